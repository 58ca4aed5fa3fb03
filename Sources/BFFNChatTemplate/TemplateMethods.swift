import BFFNCore

/// The methods of Python's `str`, `dict` and `list` that a template may call (`s.strip()`, `d.items()`,
/// `d.get(k)`), as bound functions. Methods that would change a list or dict are refused, as jinja2's
/// immutable sandbox refuses them: looking one up gives an undefined value that fails when called.
extension TemplateRenderer {
    func method(of base: TemplateValue, _ name: String) throws -> TemplateValue? {
        func bound(_ body: @escaping (BoundArgumentsFactory) throws -> TemplateValue) -> TemplateValue {
            .function(TemplateFunction(name) { _, positional, keyword in
                try body(BoundArgumentsFactory(name: name, positional: positional, keyword: keyword))
            })
        }
        func unsafe() -> TemplateValue {
            .undefined("access to attribute '\(name)' of '\(base.typeName)' object is unsafe.")
        }
        switch base {
        case .string(let s): return stringMethod(s, name, bound)
        case .dict(let d):
            switch name {
            case "items": return bound { try $0.bind([]); return .list(d.items.map { .tuple([$0, $1]) }) }
            case "keys": return bound { try $0.bind([]); return .list(d.keys) }
            case "values": return bound { try $0.bind([]); return .list(d.values) }
            case "copy": return bound { try $0.bind([]); return .dict(d) }
            case "get":
                return bound { f in
                    let a = try f.bind(["key", "default"])
                    guard let key = a[0] else { throw Self.typeError("get expected at least 1 argument, got 0") }
                    try Self.checkHashable(key)
                    return d[key] ?? a[1] ?? .none
                }
            case "pop", "popitem", "setdefault", "update", "clear": return unsafe()
            default: return nil
            }
        case .list(let l), .tuple(let l):
            switch name {
            case "index":
                return bound { f in
                    let a = try f.bind(["value"])
                    guard let v = a[0], let i = l.firstIndex(where: { $0.equals(v) }) else { throw Self.typeError("value is not in list") }
                    return .int(i)
                }
            case "count":
                return bound { f in
                    let a = try f.bind(["value"])
                    return .int(l.filter { $0.equals(a[0] ?? .none) }.count)
                }
            case "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear": return unsafe()
            default: return nil
            }
        default: return nil
        }
    }

    private func stringMethod(_ s: String, _ name: String, _ bound: (@escaping (BoundArgumentsFactory) throws -> TemplateValue) -> TemplateValue) -> TemplateValue? {
        switch name {
        case "strip", "lstrip", "rstrip":
            return bound { f in
                let chars = try f.bind(["chars"]).optionalString(0)
                return .string(PythonText.strip(s, chars: chars, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "split", "rsplit":
            return bound { f in
                let a = try f.bind(["sep", "maxsplit"])
                let sep = try a.optionalString(0)
                if sep == "" { throw Self.typeError("empty separator") }
                let max = try a.int(1, -1)
                if name == "rsplit" && max >= 0 {
                    let reversed = { (t: String) in String(String.UnicodeScalarView(t.unicodeScalars.reversed())) }
                    let parts = PythonText.split(reversed(s), separator: sep.map(reversed), maxSplit: max)
                    return .list(parts.reversed().map { .string(reversed($0)) })
                }
                return .list(PythonText.split(s, separator: sep, maxSplit: max).map { .string($0) })
            }
        case "startswith", "endswith":
            return bound { f in
                let a = try f.bind(["prefix", "start", "end"])
                var candidates: [TemplateValue] = []
                switch a[0] {
                case .string?: candidates = [a[0]!]
                case .tuple(let t)?: candidates = t
                default: throw Self.typeError("\(name) first arg must be str or a tuple of str")
                }
                let scalars = Array(s.unicodeScalars)
                let count = scalars.count
                func clamp(_ v: Int) -> Int { v < 0 ? Swift.max(0, v + count) : Swift.min(v, count) }
                let lo = clamp(try a.int(1, 0)), hi = clamp(try a.int(2, count))
                let part = lo <= hi ? Array(scalars[lo..<hi]) : []
                for c in candidates {
                    guard case .string(let p) = c else { throw Self.typeError("tuple for \(name) must only contain str") }
                    let q = Array(p.unicodeScalars)
                    if lo > hi { continue }
                    if name == "startswith" ? part.starts(with: q) : (part.count >= q.count && Array(part.suffix(q.count)) == q) { return .bool(true) }
                }
                return .bool(false)
            }
        case "upper": return bound { try $0.bind([]); return .string(s.uppercased()) }
        case "lower", "casefold": return bound { try $0.bind([]); return .string(s.lowercased()) }
        case "title": return bound { try $0.bind([]); return .string(PythonText.title(s)) }
        case "capitalize": return bound { try $0.bind([]); return .string(PythonText.capitalize(s)) }
        case "swapcase":
            return bound { try $0.bind([])
                return .string(s.unicodeScalars.map { $0.properties.isUppercase ? $0.properties.lowercaseMapping : $0.properties.uppercaseMapping }.joined())
            }
        case "replace":
            return bound { f in
                let a = try f.bind(["old", "new", "count"])
                let r = PythonText.replace(s, try a.string(0, ""), try a.string(1, ""), count: try a.int(2, -1))
                try self.checkSize(r)
                return .string(r)
            }
        case "join":
            return bound { f in
                let a = try f.bind(["iterable"])
                let items = try self.iterate(a[0] ?? .list([]))
                let parts = try items.map { item -> String in
                    guard case .string(let t) = item else { throw Self.typeError("sequence item: expected str instance, \(item.typeName) found") }
                    return t
                }
                let r = parts.joined(separator: s)
                try self.checkSize(r)
                return .string(r)
            }
        case "find", "rfind", "index", "rindex", "count":
            return bound { f in
                let a = try f.bind(["sub"])
                let sub = Array(try a.string(0, "").unicodeScalars)
                let hay = Array(s.unicodeScalars)
                func matches(_ i: Int) -> Bool { hay[i..<(i + sub.count)].elementsEqual(sub) }
                let last = hay.count - sub.count
                if name == "count" {
                    if sub.isEmpty { return .int(hay.count + 1) }
                    var n = 0, i = 0
                    while i <= last { if matches(i) { n += 1; i += sub.count } else { i += 1 } }
                    return .int(n)
                }
                if last >= 0 {
                    let positions = name.hasPrefix("r") ? Array(stride(from: last, through: 0, by: -1)) : Array(0...last)
                    if let hit = positions.first(where: matches) { return .int(hit) }
                }
                if name.hasSuffix("index") { throw Self.typeError("substring not found") }
                return .int(-1)
            }
        case "splitlines": return bound { try $0.bind([]); return .list(PythonText.splitLines(s).map { .string($0) }) }
        case "isdigit", "isnumeric", "isdecimal":
            return bound { try $0.bind([]); return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isalpha": return bound { try $0.bind([]); return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(\.properties.isAlphabetic)) }
        case "isalnum":
            return bound { try $0.bind([]); return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil }) }
        case "isspace": return bound { try $0.bind([]); return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PythonText.isSpace)) }
        case "islower": return bound { try $0.bind([]); return .bool(PythonText.isLower(s)) }
        case "isupper": return bound { try $0.bind([]); return .bool(PythonText.isUpper(s)) }
        case "center", "ljust", "rjust":
            return bound { f in
                let width = try f.bind(["width"]).int(0, 0)
                try self.checkCount(width)
                return .string(PythonText.pad(s, width: width, align: name == "center" ? .center : name == "ljust" ? .left : .right))
            }
        case "format":
            return bound { f in .string(try self.strFormat(s, f.positional, f.keyword)) }
        default: return nil
        }
    }

    /// `str.format` with `{}`, `{0}`, `{name}`, `{{`, `}}` and the conversions `!s` / `!r` (format specs are
    /// not supported).
    func strFormat(_ format: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> String {
        var out = ""
        let f = Array(format.unicodeScalars)
        var i = 0, automatic = 0
        while i < f.count {
            if f[i] == "{" && i + 1 < f.count && f[i + 1] == "{" { out += "{"; i += 2; continue }
            if f[i] == "}" && i + 1 < f.count && f[i + 1] == "}" { out += "}"; i += 2; continue }
            guard f[i] == "{" else { out.unicodeScalars.append(f[i]); i += 1; continue }
            guard let close = f[i...].firstIndex(of: "}") else { throw Self.typeError("Single '{' encountered in format string") }
            var field = String(String.UnicodeScalarView(f[(i + 1)..<close]))
            i = close + 1
            var conversion = "s"
            if let bang = field.firstIndex(of: "!") { conversion = String(field[field.index(after: bang)...]); field = String(field[..<bang]) }
            if field.contains(":") { throw Self.typeError("format specs are not supported in str.format") }
            let value: TemplateValue
            if field.isEmpty {
                guard automatic < positional.count else { throw Self.typeError("Replacement index \(automatic) out of range for positional args tuple") }
                value = positional[automatic]
                automatic += 1
            } else if let n = Int(field) {
                guard n < positional.count else { throw Self.typeError("Replacement index \(n) out of range for positional args tuple") }
                value = positional[n]
            } else {
                guard let v = keyword.first(where: { $0.0 == field })?.1 else { throw Self.typeError("KeyError: '\(field)'") }
                value = v
            }
            out += conversion == "r" ? value.pythonRepr : value.pythonString
            try checkSize(out)
        }
        return out
    }
}

/// Binds a method's arguments once its parameter names are known.
struct BoundArgumentsFactory {
    let name: String
    let positional: [TemplateValue]
    let keyword: [(String, TemplateValue)]

    @discardableResult
    func bind(_ parameters: [String]) throws -> BoundArguments {
        try BoundArguments(name, positional, keyword, parameters: parameters)
    }
}
