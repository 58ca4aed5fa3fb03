import BFFNCore

/// `value` with `digits` decimals. Numbers for people go through `TextNumber` (BFFNCore), the one formatter of
/// every text report: `TextNumber.short` (about three significant digits), `TextNumber.bytes` (sizes in
/// kB/MB/GB) and `TextNumber.bytesWithSize`; JSON keeps full precision.
func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }
