/// Numbers as report text, without Foundation.
public enum TextNumber {
    /// `value` with `digits` decimals ("12.50"); "inf", "-inf" or "nan" when not finite.
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let n = Int((abs(value) * scale).rounded())
        let whole = n / Int(scale), frac = String(n % Int(scale))
        return (value < 0 && n > 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + String(repeating: "0", count: digits - frac.count) + frac : "")
    }

    /// About three significant digits: scientific notation below 0.001 ("1.53e-6"), one decimal from 10 up,
    /// four decimals between, and "0" for zero.
    public static func short(_ v: Double) -> String {
        guard v.isFinite else { return fixed(v, 0) }
        if v == 0 { return "0" }
        if v == 0 || abs(v) >= 1e-3 { return abs(v) >= 10 ? fixed(v, 1) : fixed(v, 4) }
        var exponent = 0, m = abs(v)
        while m < 1 { m *= 10; exponent -= 1 }
        return (v < 0 ? "-" : "") + fixed(m, 2) + "e\(exponent)"
    }

    /// A size for people in decimal units: `999 B`, `104 kB`, `615.9 MB`, `3.26 GB`.
    public static func bytes(_ count: Double) -> String {
        if count < 1000 { return "\(Int(count.rounded())) B" }
        if count < 1e6 { return fixed(count / 1e3, count < 1e4 ? 1 : 0) + " kB" }
        if count < 1e9 { return fixed(count / 1e6, count < 1e8 ? 1 : 0) + " MB" }
        return fixed(count / 1e9, 2) + " GB"
    }

    /// `v` with thousands separators ("1,234,567").
    public static func grouped(_ v: UInt64) -> String {
        let s = String(v)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    /// The exact byte count with the size for people beside it: `1,234,567 bytes (1.2 MB)`.
    public static func bytesWithSize(_ count: UInt64) -> String { "\(grouped(count)) bytes (\(bytes(Double(count))))" }

    /// A count or rate for people: `950`, `12.3 k`, `2.21 M`, `1.05 G` (three significant digits from 1000 up).
    public static func count(_ v: Double) -> String {
        let m = abs(v)
        if m < 1000 { return fixed(v, m < 10 ? 2 : m < 100 ? 1 : 0) }
        for (limit, suffix) in [(1e6, "k"), (1e9, "M"), (1e12, "G")] where m < limit {
            let x = v / (limit / 1000)
            return fixed(x, abs(x) < 10 ? 2 : abs(x) < 100 ? 1 : 0) + " " + suffix
        }
        return fixed(v / 1e12, 2) + " T"
    }
}

extension String {
    /// The string padded with spaces on the right to `n` characters (unchanged when longer): the columns of every
    /// text table.
    public func padding(toLength n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

extension TextNumber {
    /// A byte count as people write it on the command line: an integer (`65536`) or a number with a binary suffix
    /// k, M or G (either case: `64M`, `1.5G`). Nil for anything else or a negative number.
    public static func parseByteCount(_ text: String) -> UInt64? {
        let units: [Character: Double] = ["k": 1024, "K": 1024, "m": 1_048_576, "M": 1_048_576, "g": 1_073_741_824, "G": 1_073_741_824]
        if let u = text.last.flatMap({ units[$0] }), let v = Double(text.dropLast()), v >= 0, v * u < 1.8e19 { return UInt64(v * u) }
        return UInt64(text)
    }
}
