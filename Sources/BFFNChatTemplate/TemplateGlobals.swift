import BFFNCore

/// The names every template sees besides its context: `range` (at most 100 000 items, as jinja2's sandbox
/// allows), `namespace`, `dict`, `raise_exception` (transformers') and `strftime_now`.
extension TemplateRenderer {
    /// The global functions, as a scope.
    func globalScope() -> TemplateScope {
        let scope = TemplateScope(parent: nil)
        scope.variables["range"] = .function(TemplateFunction("range") { _, positional, keyword in
            guard keyword.isEmpty, (1...3).contains(positional.count) else { throw Self.typeError("range expected 1 to 3 integer arguments") }
            let ints = try positional.map { v -> Int in
                guard let i = v.integer else { throw Self.typeError("'\(v.typeName)' object cannot be interpreted as an integer") }
                return i
            }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw Self.typeError("range() arg 3 must not be zero") }
            let count = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0) : (start > stop ? (start - stop - 1) / -step + 1 : 0)
            guard count <= 100_000 else {
                throw BFFNError(.limitExceeded, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
            }
            return .list((0..<count).map { .int(start + $0 * step) })
        })
        scope.variables["namespace"] = .function(TemplateFunction("namespace") { renderer, positional, keyword in
            let ns = TemplateNamespace()
            ns.attributes = try Self.dictArgument("namespace", positional, keyword)
            try renderer.checkNesting(.namespace(ns))
            renderer.namespaces.append(ns)
            return .namespace(ns)
        })
        scope.variables["dict"] = .function(TemplateFunction("dict") { renderer, positional, keyword in
            let d = TemplateValue.dict(try Self.dictArgument("dict", positional, keyword))
            try renderer.checkNesting(d)
            return d
        })
        scope.variables["raise_exception"] = .function(TemplateFunction("raise_exception") { _, positional, _ in
            throw BFFNError(.templateRaised, positional.first?.pythonString ?? "")
        })
        scope.variables["strftime_now"] = .function(TemplateFunction("strftime_now") { renderer, positional, _ in
            guard case .string(let format)? = positional.first else { throw Self.typeError("strftime_now() needs a format string") }
            return .string(try (renderer.date ?? ChatTemplate.CivilTime.now()).formatted(format))
        })
        return scope
    }

    /// `dict(mapping, **kwargs)`'s members.
    private static func dictArgument(_ name: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateDict {
        var d = TemplateDict()
        if let first = positional.first {
            guard positional.count == 1 else { throw typeError("\(name) expected at most 1 argument, got \(positional.count)") }
            switch first {
            case .dict(let m): d = m
            case .list(let pairs), .tuple(let pairs):
                for p in pairs {
                    guard case .tuple(let kv) = p, kv.count == 2 else {
                        if case .list(let kv) = p, kv.count == 2 { try checkHashable(kv[0]); d[kv[0]] = kv[1]; continue }
                        throw typeError("\(name): each element must be a pair")
                    }
                    try checkHashable(kv[0])
                    d[kv[0]] = kv[1]
                }
            default: throw typeError("'\(first.typeName)' object is not iterable")
            }
        }
        for (k, v) in keyword { d[.string(k)] = v }
        return d
    }

    /// Refuses a value nested deeper than `limits.maxNesting` (lists, dicts, namespaces): printing, comparing
    /// and freeing such values recurses once per level.
    func checkNesting(_ v: TemplateValue) throws {
        var work = 0
        func depth(_ v: TemplateValue, _ level: Int) throws {
            work += 1
            nestingWork += 1
            if level > limits.maxNesting { throw BFFNError(.limitExceeded, "a value nests deeper than \(limits.maxNesting) levels") }
            if nestingWork > 50_000_000 { throw BFFNError(.limitExceeded, "the template builds too many nested values") }
            switch v {
            case .list(let a), .tuple(let a): for x in a { try depth(x, level + 1) }
            case .dict(let d): for x in d.values { try depth(x, level + 1) }
            case .namespace(let n): for x in n.attributes.values { try depth(x, level + 1) }
            default: break
            }
        }
        try depth(v, 1)
    }
}
