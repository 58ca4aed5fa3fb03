import BFFNCore

/// Evaluating expressions, with jinja2's sandboxed look-ups: `x.name` tries an attribute (a method) and then
/// an item, `x[key]` an item and then an attribute; a missing one is undefined, but any look-up on an undefined
/// value fails.
extension TemplateRenderer {
    func evaluate(_ e: TemplateExpression, _ scope: TemplateScope) throws -> TemplateValue {
        switch e {
        case .literal(let v): return v
        case .name(let n, _): return scope.lookup(n) ?? .undefined("'\(n)' is undefined")
        case .list(let items):
            let v = TemplateValue.list(try items.map { try evaluate($0, scope) })
            try checkNesting(v)
            return v
        case .tuple(let items):
            let v = TemplateValue.tuple(try items.map { try evaluate($0, scope) })
            try checkNesting(v)
            return v
        case .dict(let pairs):
            var d = TemplateDict()
            for (k, v) in pairs {
                let key = try evaluate(k, scope)
                try Self.checkHashable(key)
                d[key] = try evaluate(v, scope)
            }
            try checkNesting(.dict(d))
            return .dict(d)
        case .attribute(let base, let name, _): return try attribute(try evaluate(base, scope), name)
        case .item(let base, let key, _):
            let b = try evaluate(base, scope)
            if case .slice(let start, let stop, let step) = key {
                return try slice(b, try start.map { try evaluate($0, scope) }, try stop.map { try evaluate($0, scope) },
                                 try step.map { try evaluate($0, scope) })
            }
            return try item(b, try evaluate(key, scope))
        case .slice: throw Self.typeError("a slice outside brackets")
        case .negate(let x, _):
            switch try evaluate(x, scope) {
            case .int(let i): guard i != Int.min else { throw integerOverflow() }; return .int(-i)
            case .double(let d): return .double(-d)
            case .bool(let b): return .int(b ? -1 : 0)
            case .undefined(let hint): throw Self.undefinedError(hint)
            case let v: throw Self.typeError("bad operand type for unary -: '\(v.typeName)'")
            }
        case .plus(let x, _):
            let v = try evaluate(x, scope)
            if case .undefined(let hint) = v { throw Self.undefinedError(hint) }
            guard let n = v.numeric else { throw Self.typeError("bad operand type for unary +: '\(v.typeName)'") }
            return n
        case .not(let x): return .bool(!(try evaluate(x, scope).truthy))
        case .and(let a, let b):
            let l = try evaluate(a, scope)
            return l.truthy ? try evaluate(b, scope) : l
        case .or(let a, let b):
            let l = try evaluate(a, scope)
            return l.truthy ? l : try evaluate(b, scope)
        case .binary(let op, let a, let b, _):
            return try binary(op, try evaluate(a, scope), try evaluate(b, scope))
        case .compare(let first, let ops, _):
            var left = try evaluate(first, scope)
            for (op, e) in ops {
                let right = try evaluate(e, scope)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let test, let then, let otherwise):
            if try evaluate(test, scope).truthy { return try evaluate(then, scope) }
            return try otherwise.map { try evaluate($0, scope) } ?? .undefined("the inline if-expression on evaluated to false and no else section was defined")
        case .call(let callee, let args, _):
            let f = try evaluate(callee, scope)
            let (positional, keyword) = try evaluateArguments(args, scope)
            return try invoke(f, positional, keyword)
        case .filter(let base, let name, let args, _):
            let value = try evaluate(base, scope)
            let (positional, keyword) = try evaluateArguments(args, scope)
            return try applyFilter(name, value, positional, keyword)
        case .test(let base, let name, let args, let negated, _):
            let value = try evaluate(base, scope)
            let (positional, keyword) = try evaluateArguments(args, scope)
            let result = try applyTest(name, value, positional, keyword)
            return .bool(result != negated)
        }
    }

    func evaluateArguments(_ args: TemplateArguments, _ scope: TemplateScope) throws -> ([TemplateValue], [(String, TemplateValue)]) {
        var positional = try args.positional.map { try evaluate($0, scope) }
        var keyword = try args.keyword.map { ($0.0, try evaluate($0.1, scope)) }
        if let star = args.star { positional += try iterate(try evaluate(star, scope)) }
        if let doubleStar = args.doubleStar {
            guard case .dict(let d) = try evaluate(doubleStar, scope) else { throw Self.typeError("argument after ** must be a mapping") }
            for (k, v) in d.items {
                guard case .string(let name) = k else { throw Self.typeError("keywords must be strings") }
                keyword.append((name, v))
            }
        }
        return (positional, keyword)
    }

    func integerOverflow() -> BFFNError { BFFNError(.limitExceeded, "an integer exceeds 64 bits") }

    static func checkHashable(_ v: TemplateValue) throws {
        switch v {
        case .list, .dict, .namespace, .loop: throw typeError("unhashable type: '\(v.typeName)'")
        case .tuple(let items): for i in items { try checkHashable(i) }
        default: break
        }
    }

    /// `x.name`.
    func attribute(_ base: TemplateValue, _ name: String) throws -> TemplateValue {
        switch base {
        case .undefined(let hint): throw Self.undefinedError(hint)
        case .loop(let l): return l.attribute(name)
        case .namespace(let n): return n.attributes[.string(name)] ?? .undefined("'Namespace object' has no attribute '\(name)'")
        default:
            if let m = try method(of: base, name) { return m }
            if case .dict(let d) = base, let v = d[.string(name)] { return v }
            return .undefined("'\(Self.objectName(base))' has no attribute '\(name)'")
        }
    }

    /// `x[key]`.
    func item(_ base: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
        switch (base, key) {
        case (.undefined(let hint), _): throw Self.undefinedError(hint)
        case (.dict(let d), _):
            if Self.isHashable(key), let v = d[key] { return v }
        case (.list(let a), _), (.tuple(let a), _):
            if let i = Self.index(key) { return Self.element(a, i) ?? .undefined("'\(Self.objectName(base))' has no element \(i)") }
        case (.string(let s), _):
            if let i = Self.index(key) {
                let scalars = Array(s.unicodeScalars)
                guard let c = Self.element(scalars, i) else { return .undefined("'str object' has no element \(i)") }
                return .string(String(Character(c)))
            }
        case (.namespace, .string(let name)), (.loop, .string(let name)):
            return try attribute(base, name)
        default: break
        }
        if case .string(let name) = key { return try attribute(base, name) }
        return .undefined("'\(Self.objectName(base))' has no element \(key.pythonRepr)")
    }

    private static func isHashable(_ v: TemplateValue) -> Bool { (try? checkHashable(v)) != nil }

    private static func index(_ key: TemplateValue) -> Int? {
        switch key {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    private static func element<T>(_ a: [T], _ i: Int) -> T? {
        let k = i < 0 ? a.count + i : i
        return k >= 0 && k < a.count ? a[k] : nil
    }

    /// jinja2's name for a value in "has no attribute" messages: "dict object", "str object", "None".
    static func objectName(_ v: TemplateValue) -> String {
        if case .none = v { return "None" }
        return "\(v.typeName) object"
    }

    /// `x[start:stop:step]` with Python's clamping and negative indices.
    func slice(_ base: TemplateValue, _ start: TemplateValue?, _ stop: TemplateValue?, _ step: TemplateValue?) throws -> TemplateValue {
        func bound(_ v: TemplateValue?) throws -> Int? {
            guard let v else { return nil }
            switch v {
            case .none: return nil
            case .int(let i): return i
            case .bool(let b): return b ? 1 : 0
            case .undefined(let hint): throw Self.undefinedError(hint)
            default: throw Self.typeError("slice indices must be integers or None")
            }
        }
        let st = try bound(step) ?? 1
        guard st != 0 else { throw Self.typeError("slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ v: Int?, _ defaultValue: Int) -> Int {
                guard var x = v else { return defaultValue }
                if x < 0 { x += count; if x < 0 { x = st < 0 ? -1 : 0 } } else if x >= count { x = st < 0 ? count - 1 : count }
                return x
            }
            let lo = clamp(try bound(start), st < 0 ? count - 1 : 0)
            let hi = clamp(try bound(stop), st < 0 ? -1 : count)
            return Array(stride(from: lo, to: hi, by: st))
        }
        switch base {
        case .undefined(let hint): throw Self.undefinedError(hint)
        case .list(let a): return .list(try indices(a.count).map { a[$0] })
        case .tuple(let a): return .tuple(try indices(a.count).map { a[$0] })
        case .string(let s):
            let a = Array(s.unicodeScalars)
            return .string(String(String.UnicodeScalarView(try indices(a.count).map { a[$0] })))
        default: return .undefined("'\(Self.objectName(base))' cannot be sliced")
        }
    }
}
