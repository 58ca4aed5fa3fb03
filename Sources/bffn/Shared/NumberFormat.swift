import BFFNCore

/// `value` with `digits` decimals. Numbers for people go through `TextNumber` (BFFNCore), the one formatter of
/// every text report: `TextNumber.short` (about three significant digits), `TextNumber.bytes` (sizes in
/// kB/MB/GB) and `TextNumber.bytesWithSize`; JSON keeps full precision.
func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }

extension String {
    /// The string padded with spaces to `n` characters (unchanged when longer).
    func padding(toLength n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
