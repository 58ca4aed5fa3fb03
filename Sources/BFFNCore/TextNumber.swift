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
    /// four decimals between.
    public static func short(_ v: Double) -> String {
        guard v.isFinite else { return fixed(v, 0) }
        if v == 0 || abs(v) >= 1e-3 { return abs(v) >= 10 ? fixed(v, 1) : fixed(v, 4) }
        var exponent = 0, m = abs(v)
        while m < 1 { m *= 10; exponent -= 1 }
        return (v < 0 ? "-" : "") + fixed(m, 2) + "e\(exponent)"
    }
}
