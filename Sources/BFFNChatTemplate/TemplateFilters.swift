import BFFNCore

/// jinja2's built-in filters that chat templates use, with `tojson` as transformers defines it (Python's
/// `json.dumps`, `ensure_ascii=False`, no HTML escaping). An unknown filter is an error naming it.
extension TemplateRenderer {
    func applyFilter(_ name: String, _ value: TemplateValue, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        func bind(_ parameters: [String]) throws -> BoundArguments { try BoundArguments(name, positional, keyword, parameters: parameters) }
        func text(_ s: String) throws -> TemplateValue { try checkSize(s); return .string(s) }
        switch name {
        case "abs":
            switch value {
            case .int(let i): guard i != Int.min else { throw integerOverflow() }; return .int(abs(i))
            case .double(let d): return .double(abs(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default: throw Self.typeError("bad operand type for abs(): '\(value.typeName)'")
            }
        case "attr":
            let a = try bind(["name"])
            return try attribute(value, try a.string(0, ""))
        case "batch":
            let a = try bind(["linecount", "fill_with"])
            let size = try a.int(0, 1)
            guard size > 0 else { throw Self.typeError("batch size must be positive") }
            let items = try iterate(value)
            var out: [TemplateValue] = []
            var i = 0
            while i < items.count {
                var chunk = Array(items[i..<min(i + size, items.count)])
                if chunk.count < size, let fill = a[1] { chunk += Array(repeating: fill, count: size - chunk.count) }
                out.append(.list(chunk))
                i += size
            }
            return .list(out)
        case "capitalize": return .string(PythonText.capitalize(value.pythonString))
        case "center":
            let width = try bind(["width"]).int(0, 80)
            return try text(PythonText.pad(value.pythonString, width: width, align: .center))
        case "count", "length":
            switch value {
            case .undefined: return .int(0)
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let a), .tuple(let a): return .int(a.count)
            case .dict(let d): return .int(d.count)
            default: throw Self.typeError("object of type '\(value.typeName)' has no len()")
            }
        case "d", "default":
            let a = try bind(["default_value", "boolean"])
            if value.isUndefined || (a.bool(1, false) && !value.truthy) { return a[0] ?? .string("") }
            return value
        case "e", "escape", "forceescape":
            return try text(PythonText.htmlEscape(value.pythonString))
        case "first":
            return try iterate(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            return try iterate(value).last ?? .undefined("No last item, sequence was empty.")
        case "float":
            let a = try bind(["default"])
            switch value {
            case .int(let i): return .double(Double(i))
            case .double: return value
            case .bool(let b): return .double(b ? 1 : 0)
            case .string(let s): if let d = Double(PythonText.strip(s, chars: nil)) { return .double(d) }
            default: break
            }
            return a[0] ?? .double(0)
        case "int":
            let a = try bind(["default", "base"])
            let base = try a.int(1, 10)
            switch value {
            case .int, .bool: return value.numeric!
            case .double(let d): if d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            case .string(let s):
                let t = PythonText.strip(s, chars: nil).replacing("_", with: "")
                if let i = Int(t, radix: base) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            default: break
            }
            return a[0] ?? .int(0)
        case "items":
            switch value {
            case .undefined: return .list([])
            case .dict(let d): return .list(d.items.map { .tuple([$0, $1]) })
            default: throw Self.typeError("Can only get item pairs from a mapping.")
            }
        case "join":
            let a = try bind(["d", "attribute"])
            var items = try iterate(value)
            if let path = a[1] { items = try items.map { try attributePath($0, path) } }
            let joined = items.map(\.pythonString).joined(separator: try a.string(0, ""))
            return try text(joined)
        case "list": return .list(try iterate(value))
        case "lower": return .string(value.pythonString.lowercased())
        case "upper": return .string(value.pythonString.uppercased())
        case "map":
            let items = try iterate(value)
            if positional.isEmpty, keyword.contains(where: { $0.0 == "attribute" }) {
                let a = try bind(["attribute", "default"])
                return .list(try items.map { item in
                    let v = try attributePath(item, a[0]!)
                    if v.isUndefined, let d = a[1] { return d }
                    return v
                })
            }
            guard case .string(let filter)? = positional.first else { throw Self.typeError("map requires a filter name or attribute=") }
            return .list(try items.map { try applyFilter(filter, $0, Array(positional.dropFirst()), keyword) })
        case "max", "min":
            let a = try bind(["case_sensitive", "attribute"])
            let items = try iterate(value)
            let keys = try sortKeys(items, caseSensitive: a.bool(0, false), attribute: a[1])
            guard !items.isEmpty else { return .undefined("No aggregated item, sequence was empty.") }
            var best = 0
            for i in 1..<items.count {
                let o = try Self.order(keys[i], keys[best])
                if name == "max" ? o > 0 : o < 0 { best = i }
            }
            return items[best]
        case "replace":
            let a = try bind(["old", "new", "count"])
            return try text(PythonText.replace(value.pythonString, try a.string(0, ""), try a.string(1, ""), count: try a.int(2, -1)))
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .list(try iterate(value).reversed())
        case "round":
            let a = try bind(["precision", "method"])
            let precision = try a.int(0, 0)
            let method = try a.string(1, "common")
            let x = value.asDouble
            let scale = pow(10.0, Double(precision))
            switch method {
            case "common":
                if case .int = value { return value }
                return .double((x * scale).rounded(.toNearestOrEven) / scale)
            case "ceil": return .double((x * scale).rounded(.up) / scale)
            case "floor": return .double((x * scale).rounded(.down) / scale)
            default: throw Self.typeError("method must be 'common', 'ceil' or 'floor'")
            }
        case "safe": return value
        case "select", "reject", "selectattr", "rejectattr":
            let byAttribute = name.hasSuffix("attr")
            guard !byAttribute || !positional.isEmpty else { throw Self.typeError("\(name) needs an attribute") }
            let rest = Array(positional.dropFirst(byAttribute ? 1 : 0))
            let keep = name.hasPrefix("select")
            return .list(try iterate(value).filter { item in
                let subject = byAttribute ? try attributePath(item, positional[0]) : item
                guard case .string(let test)? = rest.first else { return subject.truthy == keep }
                return try applyTest(test, subject, Array(rest.dropFirst()), keyword) == keep
            })
        case "sort":
            let a = try bind(["reverse", "case_sensitive", "attribute"])
            let items = try iterate(value)
            let keys = try sortKeys(items, caseSensitive: a.bool(1, false), attribute: a[2])
            var order = Array(items.indices)
            var failure: Error?
            order.sort { i, j in
                do { return try Self.order(keys[i], keys[j]) < 0 } catch { failure = error; return false }
            }
            if let failure { throw failure }
            if a.bool(0, false) { order = Array(order.reversed()) }
            return .list(order.map { items[$0] })
        case "string": return .string(value.pythonString)
        case "sum":
            let a = try bind(["attribute", "start"])
            var total = a[1] ?? .int(0)
            for item in try iterate(value) { total = try binary(.add, total, a[0] == nil ? item : try attributePath(item, a[0]!)) }
            return total
        case "title": return .string(PythonText.titleFilter(value.pythonString))
        case "tojson":
            let a = try bind(["ensure_ascii", "indent", "separators", "sort_keys"])
            return try text(try PythonJSON.dumps(value, arguments: a, limit: limits.maxOutputBytes))
        case "trim":
            return .string(PythonText.strip(value.pythonString, chars: try bind(["chars"]).optionalString(0)))
        case "unique":
            let a = try bind(["case_sensitive", "attribute"])
            let items = try iterate(value)
            let keys = try sortKeys(items, caseSensitive: a.bool(0, false), attribute: a[1])
            var seen: [TemplateValue] = []
            var out: [TemplateValue] = []
            for (item, key) in zip(items, keys) where !seen.contains(where: { $0.equals(key) }) {
                seen.append(key)
                out.append(item)
            }
            return .list(out)
        case "wordcount":
            return .int(PythonText.wordCount(value.pythonString))
        case "indent":
            let a = try bind(["width", "first", "blank"])
            let indentation: String
            if case .string(let s)? = a[0] { indentation = s } else { indentation = String(repeating: " ", count: max(0, try a.int(0, 4))) }
            return try text(PythonText.indent(value.pythonString, indentation, first: a.bool(1, false), blank: a.bool(2, false)))
        default:
            throw Self.typeError("No filter named '\(name)'.")
        }
    }

    /// jinja2's attribute getter: a dotted path of item look-ups (`"a.b"`, `"items.0"`).
    func attributePath(_ item: TemplateValue, _ path: TemplateValue) throws -> TemplateValue {
        guard case .string(let p) = path else { return try self.item(item, path) }
        var v = item
        for part in p.split(separator: ".", omittingEmptySubsequences: false) {
            v = try self.item(v, Int(part).map { .int($0) } ?? .string(String(part)))
        }
        return v
    }

    /// The values `sort`, `unique`, `min` and `max` compare: an attribute of each item, lower-cased unless
    /// `caseSensitive`.
    private func sortKeys(_ items: [TemplateValue], caseSensitive: Bool, attribute: TemplateValue?) throws -> [TemplateValue] {
        try items.map { item in
            let v = try attribute.map { try attributePath(item, $0) } ?? item
            if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
            return v
        }
    }
}

/// Helpers the filters and `%` formatting share.
enum TemplateFilters {
    /// One `%` conversion of `value` (`s r d i f x`), with `spec` (flags, width, precision).
    static func formatOne(_ value: TemplateValue, spec: String, conversion: Unicode.Scalar) throws -> String {
        var flags = spec
        var precision: Int?
        if let dot = spec.firstIndex(of: ".") {
            precision = Int(spec[spec.index(after: dot)...]) ?? 0
            flags = String(spec[..<dot])
        }
        let leftAlign = flags.contains("-")
        let zeroPad = flags.contains("0") && !leftAlign && !(flags.filter(\.isNumber).first == nil)
        let width = Int(flags.drop(while: { "-+ #0".contains($0) })) ?? 0
        var body: String
        switch conversion {
        case "s": body = value.pythonString; if let p = precision { body = String(body.unicodeScalars.prefix(p).map(Character.init)) }
        case "r": body = value.pythonRepr
        case "d", "i":
            guard let n = value.numeric else { throw TemplateRenderer.typeError("%\(Character(conversion)) format: a number is required, not \(value.typeName)") }
            if case .int(let i) = n { body = String(i) } else { body = String(Int(n.asDouble.rounded(.towardZero))) }
        case "f", "F":
            guard let n = value.numeric else { throw TemplateRenderer.typeError("must be real number, not \(value.typeName)") }
            body = PythonText.fixed(n.asDouble, precision: precision ?? 6)
        case "x", "X":
            guard let i = value.integer else { throw TemplateRenderer.typeError("%x format: an integer is required, not \(value.typeName)") }
            body = String(i, radix: 16, uppercase: conversion == "X")
        default: throw TemplateRenderer.typeError("unsupported format character '\(Character(conversion))'")
        }
        if flags.contains("+"), "dif".unicodeScalars.contains(conversion), !body.hasPrefix("-") { body = "+" + body }
        let pad = width - body.unicodeScalars.count
        guard pad > 0 else { return body }
        if leftAlign { return body + String(repeating: " ", count: pad) }
        if zeroPad, "difF".unicodeScalars.contains(conversion) {
            let negative = body.hasPrefix("-") || body.hasPrefix("+")
            return (negative ? String(body.prefix(1)) : "") + String(repeating: "0", count: pad) + (negative ? String(body.dropFirst()) : body)
        }
        return String(repeating: " ", count: pad) + body
    }
}
