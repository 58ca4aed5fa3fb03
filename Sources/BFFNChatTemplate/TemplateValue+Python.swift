/// How Python prints values: `str(x)` (what `{{ x }}` outputs), `repr(x)` (inside lists and dicts), and the
/// shortest round-trip float repr (`1.0`, `1e-05`, `1e+16`).
extension TemplateValue {
    /// `str(x)`; undefined prints as "".
    var pythonString: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// `repr(x)`.
    var pythonRepr: String {
        var printing: [TemplateNamespace] = []
        return repr(&printing, depth: 0)
    }

    /// `repr` that prints a namespace met again inside itself as Python prints a recursive dict
    /// (`<Namespace {...}>`), and anything nested past 200 levels as `...`.
    private func repr(_ printing: inout [TemplateNamespace], depth: Int) -> String {
        if depth > 200 { return "..." }
        func each(_ items: [TemplateValue], _ printing: inout [TemplateNamespace]) -> [String] {
            items.map { $0.repr(&printing, depth: depth + 1) }
        }
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return Self.floatRepr(d)
        case .string(let s): return PythonText.repr(s)
        case .list(let a): return "[" + each(a, &printing).joined(separator: ", ") + "]"
        case .tuple(let a):
            let parts = each(a, &printing)
            return a.count == 1 ? "(" + parts[0] + ",)" : "(" + parts.joined(separator: ", ") + ")"
        case .dict(let d):
            let keys = each(d.keys, &printing), values = each(d.values, &printing)
            return "{" + zip(keys, values).map { $0 + ": " + $1 }.joined(separator: ", ") + "}"
        case .namespace(let n):
            if printing.contains(where: { $0 === n }) { return "<Namespace {...}>" }
            printing.append(n)
            defer { printing.removeLast() }
            return "<Namespace " + TemplateValue.dict(n.attributes).repr(&printing, depth: depth + 1) + ">"
        case .function(let f): return "<function \(f.name)>"
        case .loop(let l): return "<LoopContext \(l.index0 + 1)/\(l.items.count)>"
        }
    }

    /// Python's `repr(float)`: the shortest digits that read back to `d`, fixed notation when the decimal
    /// exponent is in [-4, 16), scientific (`1e-05`, `1.5e+16`) otherwise.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        let sign = d.sign == .minus ? "-" : ""
        if d == 0 { return sign + "0.0" }
        // Swift's description has the shortest round-trip digits; only the layout differs from Python's.
        var text = Substring(abs(d).description)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var digits = Array(parts[0]) + (parts.count > 1 ? Array(parts[1]) : [])
        var point = parts[0].count + exponent
        while digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.last == "0" { digits.removeLast() }
        let ds = String(digits)
        if point > 16 || point <= -4 {
            let e = point - 1
            let mantissa = digits.count == 1 ? ds : String(digits[0]) + "." + String(digits[1...])
            let magnitude = String(abs(e))
            return sign + mantissa + "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + ds }
        if point >= digits.count { return sign + ds + String(repeating: "0", count: point - digits.count) + ".0" }
        return sign + String(digits[..<point]) + "." + String(digits[point...])
    }
}
