import BFFNCore

/// More of Python's `str` as the filters use it: padding, `replace`, `splitlines`, jinja2's `indent` and
/// `wordcount`, HTML escaping, and `%f`-style fixed notation.
extension PythonText {
    enum Alignment { case left, right, center }

    /// `s.center(width)` / `ljust` / `rjust` with spaces.
    static func pad(_ s: String, width: Int, align: Alignment) -> String {
        let n = s.unicodeScalars.count
        guard width > n else { return s }
        let total = width - n
        switch align {
        case .left: return s + String(repeating: " ", count: total)
        case .right: return String(repeating: " ", count: total) + s
        case .center:
            // CPython: left = total / 2 + (total & width & 1).
            let left = total / 2 + (total & width & 1)
            return String(repeating: " ", count: left) + s + String(repeating: " ", count: total - left)
        }
    }

    /// `s.replace(old, new, count)`; an empty `old` inserts `new` around every code point.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let a = Array(s.unicodeScalars)
        let o = Array(old.unicodeScalars)
        var out = String.UnicodeScalarView()
        var done = 0
        if o.isEmpty {
            for c in a {
                if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars); done += 1 }
                out.append(c)
            }
            if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        var i = 0
        while i < a.count {
            if (count < 0 || done < count) && i + o.count <= a.count && a[i..<(i + o.count)].elementsEqual(o) {
                out.append(contentsOf: new.unicodeScalars)
                i += o.count
                done += 1
            } else {
                out.append(a[i])
                i += 1
            }
        }
        return String(out)
    }

    /// `s.splitlines()`: the line boundaries Python knows (`\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`-`\x1e`,
    /// `\x85`, U+2028, U+2029), without the line ends.
    static func splitLines(_ s: String) -> [String] {
        let a = Array(s.unicodeScalars)
        var out: [String] = []
        var start = 0, i = 0
        while i < a.count {
            switch a[i].value {
            case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                out.append(String(String.UnicodeScalarView(a[start..<i])))
                if a[i] == "\r", i + 1 < a.count, a[i + 1] == "\n" { i += 1 }
                i += 1
                start = i
            default: i += 1
            }
        }
        if start < a.count { out.append(String(String.UnicodeScalarView(a[start...]))) }
        return out
    }

    /// jinja2's `indent` filter: every line after the first (and the first with `first`) prefixed with
    /// `indentation`; blank lines only with `blank`.
    static func indent(_ text: String, _ indentation: String, first: Bool, blank: Bool) -> String {
        let lines = splitLines(text + "\n")
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + indentation)
        } else {
            rv = lines.first ?? ""
            if lines.count > 1 {
                rv += "\n" + lines.dropFirst().map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        return first ? indentation + rv : rv
    }

    /// jinja2's `wordcount`: the number of runs of word characters (letters, digits, `_`).
    static func wordCount(_ s: String) -> Int {
        var count = 0
        var inWord = false
        for c in s.unicodeScalars {
            let word = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
            if word && !inWord { count += 1 }
            inWord = word
        }
        return count
    }

    /// HTML escaping as markupsafe does it: `& < > " '`.
    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `'%.Nf' % d`: fixed notation with `precision` digits, rounded half to even on the exact binary value.
    static func fixed(_ d: Double, precision: Int) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        let p = max(0, min(precision, 30))
        var buffer = [CChar](repeating: 0, count: 400)
        let n = withVaList([d]) { vsnprintf(&buffer, buffer.count, "%.\(p)f", $0) }
        return n > 0 ? String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : String(d)
    }
}
