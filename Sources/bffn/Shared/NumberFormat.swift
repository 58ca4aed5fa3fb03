import BFFNCore

/// `value` with `digits` decimals (the one number formatter of the command-line output).
func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }

extension String {
    /// The string padded with spaces to `n` characters (unchanged when longer).
    func padding(toLength n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
