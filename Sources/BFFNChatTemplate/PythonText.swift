/// Python's `str` operations on code points, as templates call them: whitespace (`str.isspace`), strip, split,
/// title and capitalize, `repr`, and the escapes of a string literal (`unicode-escape`).
enum PythonText {
    /// `str.isspace` for one code point (also what `\s` matches in Python's `re`).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// `s.strip(chars)` / `lstrip` / `rstrip`: with `chars` nil, whitespace.
    static func strip(_ s: String, chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let a = Array(s.unicodeScalars)
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ c: Unicode.Scalar) -> Bool { set?.contains(c) ?? isSpace(c) }
        var lo = 0, hi = a.count
        if leading { while lo < hi, drop(a[lo]) { lo += 1 } }
        if trailing { while hi > lo, drop(a[hi - 1]) { hi -= 1 } }
        return String(String.UnicodeScalarView(a[lo..<hi]))
    }

    /// `s.split(sep, maxsplit)`: with `sep` nil, runs of whitespace separate and empty pieces are dropped.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        let a = Array(s.unicodeScalars)
        var out: [String] = []
        func piece(_ r: Range<Int>) -> String { String(String.UnicodeScalarView(a[r])) }
        guard let separator else {
            var i = 0
            while i < a.count {
                while i < a.count, isSpace(a[i]) { i += 1 }
                if i >= a.count { break }
                if maxSplit >= 0 && out.count == maxSplit {
                    var end = a.count
                    while end > i, isSpace(a[end - 1]) { end -= 1 }
                    out.append(piece(i..<end))
                    break
                }
                let start = i
                while i < a.count, !isSpace(a[i]) { i += 1 }
                out.append(piece(start..<i))
            }
            return out
        }
        let sep = Array(separator.unicodeScalars)
        var start = 0, i = 0
        while i + sep.count <= a.count {
            if (maxSplit < 0 || out.count < maxSplit) && Array(a[i..<(i + sep.count)]) == sep {
                out.append(piece(start..<i))
                i += sep.count
                start = i
            } else { i += 1 }
        }
        out.append(piece(start..<a.count))
        return out
    }

    /// Python's `str.title()`: a letter after a cased letter is lowered, any other letter is title-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            let p = c.properties
            if p.isCased || p.isLowercase || p.isUppercase {
                out += previousCased ? p.lowercaseMapping : p.titlecaseMapping
                previousCased = true
            } else {
                out.unicodeScalars.append(c)
                previousCased = false
            }
        }
        return out
    }

    /// Python's `str.capitalize()`: the first code point title-cased (upper), the rest lowered.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return "" }
        return first.properties.titlecaseMapping + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
    }

    /// jinja2's `title` filter: each piece after a run of `-`, whitespace, `(`, `{`, `[` or `<` gets its first
    /// code point upper-cased and the rest lowered.
    static func titleFilter(_ s: String) -> String {
        var out = ""
        var atStart = true
        for c in s.unicodeScalars {
            let separator = isSpace(c) || "-({[<".unicodeScalars.contains(c)
            if separator { out.unicodeScalars.append(c); atStart = true; continue }
            out += atStart ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
            atStart = false
        }
        return out
    }

    /// Python's `repr` of a string: single quotes unless the text has `'` and no `"`; escapes for the
    /// backslash, the chosen quote, `\n \r \t`, and `\x..` / `\u....` / `\U........` for what is not printable.
    static func repr(_ s: String) -> String {
        let quote: Unicode.Scalar = s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"") ? "\"" : "'"
        var out = String(Character(quote))
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case quote: out += "\\" + String(Character(c))
            default:
                if isPrintable(c) { out.unicodeScalars.append(c) } else if c.value < 0x100 {
                    out += "\\x" + hex(c.value, width: 2)
                } else if c.value < 0x10000 { out += "\\u" + hex(c.value, width: 4) } else { out += "\\U" + hex(c.value, width: 8) }
            }
        }
        out.unicodeScalars.append(quote)
        return out
    }

    /// `str.isprintable` for one code point: not a control, format, surrogate, private-use, unassigned,
    /// line or paragraph separator, nor a space other than U+0020.
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default: return true
        }
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The text of a string literal between its quotes, with Python's `unicode-escape` decoding (what jinja2
    /// applies): `\n \t \r \\ \' \" \a \b \f \v`, octal `\ooo`, `\xhh`, `\uXXXX`, `\UXXXXXXXX`, a backslash before
    /// a newline joins lines; any other backslash stays as written.
    static func unescape(_ a: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        func hexValue(_ from: Int, _ count: Int) -> UInt32? {
            guard from + count <= a.count else { return nil }
            return UInt32(String(String.UnicodeScalarView(a[from..<(from + count)])), radix: 16)
        }
        while i < a.count {
            let c = a[i]
            guard c == "\\", i + 1 < a.count else { out.append(c); i += 1; continue }
            let n = a[i + 1]
            i += 2
            switch n {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\", "'", "\"": out.append(n)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": break
            case "0"..."7":
                var v = n.value - 48, k = 1
                while k < 3, i < a.count, a[i].value >= 48 && a[i].value <= 55 { v = v * 8 + a[i].value - 48; i += 1; k += 1 }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            case "x", "u", "U":
                let width = n == "x" ? 2 : n == "u" ? 4 : 8
                if let v = hexValue(i, width), let scalar = Unicode.Scalar(v) {
                    out.append(scalar)
                    i += width
                } else { out.append("\\"); out.append(n) }
            default: out.append("\\"); out.append(n)
            }
        }
        return String(out)
    }
}
