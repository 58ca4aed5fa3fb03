import BFFNCore

/// `value` with `digits` decimals. Numbers for people go through `TextNumber` (BFFNCore), the one formatter of
/// every text report: `TextNumber.short` (about three significant digits), `TextNumber.bytes` (sizes in
/// kB/MB/GB) and `TextNumber.bytesWithSize`; JSON keeps full precision.
func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }

/// A byte count as people write it on the command line: an integer (`65536`) or a number with a binary suffix
/// k, M or G (either case: `64M`, `1.5G`). Nil for anything else or a negative number.
func parseByteCount(_ text: String) -> UInt64? {
    let units: [Character: Double] = ["k": 1024, "K": 1024, "m": 1_048_576, "M": 1_048_576, "g": 1_073_741_824, "G": 1_073_741_824]
    if let u = text.last.flatMap({ units[$0] }), let v = Double(text.dropLast()), v >= 0, v * u < 1.8e19 { return UInt64(v * u) }
    return UInt64(text)
}
