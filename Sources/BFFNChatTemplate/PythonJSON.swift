import BFFNCore

/// Python's `json.dumps` on template values, byte for byte: `ensure_ascii` (here False unless asked, as
/// transformers' `tojson` sets it), `indent` (a count of spaces or a string), `separators` (default `", "`,
/// `": "`, or `","` with an indent), `sort_keys`; floats as Python's repr, `NaN` / `Infinity`; tuples as arrays.
enum PythonJSON {
    struct Options {
        var ensureASCII = false
        var indent: String?
        var itemSeparator = ", "
        var keySeparator = ": "
        var sortKeys = false
    }

    /// `tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    /// - Throws: `.templateError` for a value JSON cannot hold (undefined, a namespace, a function, a key
    ///   that is not str, int, float, bool or None); `.limitExceeded` past `limit` bytes or nesting.
    static func dumps(_ value: TemplateValue, arguments a: BoundArguments, limit: Int) throws -> String {
        var o = Options()
        o.ensureASCII = a.bool(0, false)
        switch a[1] {
        case nil, .none?: o.indent = nil
        case .string(let s)?: o.indent = s
        case let v?:
            guard let n = v.integer else { throw TemplateRenderer.typeError("indent must be an int or a string, not \(v.typeName)") }
            guard n <= 64 else { throw BFFNError(.limitExceeded, "tojson indent \(n) is over 64") }
            o.indent = String(repeating: " ", count: max(0, n))
        }
        if o.indent != nil { o.itemSeparator = "," }
        if let s = a[2], !s.isNone {
            let parts: [TemplateValue]
            switch s {
            case .list(let p), .tuple(let p): parts = p
            default: throw TemplateRenderer.typeError("separators must be a (item_separator, key_separator) pair")
            }
            guard parts.count == 2, case .string(let item) = parts[0], case .string(let key) = parts[1] else {
                throw TemplateRenderer.typeError("separators must be a (item_separator, key_separator) pair")
            }
            (o.itemSeparator, o.keySeparator) = (item, key)
        }
        o.sortKeys = a.bool(3, false)
        var out = ""
        try write(value, o, level: 0, into: &out, limit: limit)
        return out
    }

    private static func write(_ v: TemplateValue, _ o: Options, level: Int, into out: inout String, limit: Int) throws {
        if out.utf8.count > limit { throw BFFNError(.limitExceeded, "tojson output exceeds \(limit) bytes") }
        if level > 512 { throw BFFNError(.limitExceeded, "tojson nests deeper than 512 levels") }
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += number(d)
        case .string(let s): out += quote(s, ascii: o.ensureASCII)
        case .list(let items), .tuple(let items):
            try container("[", "]", items.count, o, level, &out) { i, out in try write(items[i], o, level: level + 1, into: &out, limit: limit) }
        case .dict(let d):
            var pairs = try d.items.map { (try key($0), $1) }
            if o.sortKeys { pairs.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
            try container("{", "}", pairs.count, o, level, &out) { i, out in
                out += quote(pairs[i].0, ascii: o.ensureASCII) + o.keySeparator
                try write(pairs[i].1, o, level: level + 1, into: &out, limit: limit)
            }
        default:
            throw TemplateRenderer.typeError("Object of type \(v.typeName) is not JSON serializable")
        }
    }

    private static func container(_ open: String, _ close: String, _ count: Int, _ o: Options, _ level: Int, _ out: inout String,
                                  _ element: (Int, inout String) throws -> Void) throws {
        guard count > 0 else { out += open + close; return }
        out += open
        let inner = o.indent.map { "\n" + String(repeating: $0, count: level + 1) }
        if let inner { out += inner }
        for i in 0..<count {
            if i > 0 { out += o.itemSeparator + (inner ?? "") }
            try element(i, &out)
        }
        if let indent = o.indent { out += "\n" + String(repeating: indent, count: level) }
        out += close
    }

    /// A dict key as JSON text: str as is, numbers, bools and None spelled as JSON does.
    private static func key(_ k: TemplateValue) throws -> String {
        switch k {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return number(d)
        case .bool(let b): return b ? "true" : "false"
        case .none: return "null"
        default: throw TemplateRenderer.typeError("keys must be str, int, float, bool or None, not \(k.typeName)")
        }
    }

    private static func number(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return TemplateValue.floatRepr(d)
    }

    /// A JSON string: `"` and `\` escaped, `\n \r \t \b \f`, other controls as `\u00XX`; with `ascii`,
    /// everything outside space..`~` as `\uXXXX` (surrogate pairs above U+FFFF).
    static func quote(_ s: String, ascii: Bool) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 || (ascii && c.value > 0x7E) {
                    if c.value > 0xFFFF {
                        let v = c.value - 0x10000
                        out += "\\u" + PythonText.hex(0xD800 + (v >> 10), width: 4) + "\\u" + PythonText.hex(0xDC00 + (v & 0x3FF), width: 4)
                    } else {
                        out += "\\u" + PythonText.hex(c.value, width: 4)
                    }
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}
