import BFFNCore

/// Python's arithmetic, comparison and membership on template values: ints stay exact (an overflow past 64 bits
/// is an error, where Python would grow), `/` gives a float, `//` and `%` floor, `~` joins as text, strings
/// and lists repeat and concatenate, `%` on a string formats it.
extension TemplateRenderer {
    func binary(_ op: TemplateBinaryOperator, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if op == .concat {
            let s = a.pythonString + b.pythonString
            try checkSize(s)
            return .string(s)
        }
        if case .undefined(let hint) = a { throw Self.undefinedError(hint) }
        if case .undefined(let hint) = b { throw Self.undefinedError(hint) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            try checkCount(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case (.add, .list(let x), .list(let y)): try checkCount(x.count + y.count); return .list(x + y)
        case (.add, .tuple(let x), .tuple(let y)): try checkCount(x.count + y.count); return .tuple(x + y)
        case (.multiply, .string(let s), _), (.multiply, _, .string(let s)):
            guard let n = (a.isString ? b : a).integer else { break }
            try checkCount(s.utf8.count.multipliedReportingOverflow(by: max(n, 0)).overflow ? Int.max : s.utf8.count * max(n, 0))
            return .string(String(repeating: s, count: max(n, 0)))
        case (.multiply, .list(let l), _), (.multiply, _, .list(let l)):
            guard let n = (a.isList ? b : a).integer else { break }
            try checkCount(l.count.multipliedReportingOverflow(by: max(n, 0)).overflow ? Int.max : l.count * max(n, 0))
            return .list(Array([[TemplateValue]](repeating: l, count: max(n, 0)).joined()))
        case (.modulo, .string(let format), _):
            return .string(try percentFormat(format, b))
        default: break
        }
        guard let x = a.numeric, let y = b.numeric else {
            if op == .add, case .string = a { throw Self.typeError("can only concatenate str (not \"\(b.typeName)\") to str") }
            if op == .add, case .list = a { throw Self.typeError("can only concatenate list (not \"\(b.typeName)\") to list") }
            throw Self.typeError("unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
        }
        if case .int(let i) = x, case .int(let j) = y { return try integerArithmetic(op, i, j) }
        let (p, q) = (x.asDouble, y.asDouble)
        switch op {
        case .add: return .double(p + q)
        case .subtract: return .double(p - q)
        case .multiply: return .double(p * q)
        case .divide:
            guard q != 0 else { throw Self.typeError("float division by zero") }
            return .double(p / q)
        case .floorDivide, .modulo:
            guard q != 0 else { throw Self.typeError("float floor division by zero") }
            let (div, mod) = Self.floatDivMod(p, q)
            return .double(op == .modulo ? mod : div)
        case .power: return .double(pow(p, q))
        case .concat: return .none
        }
    }

    private func integerArithmetic(_ op: TemplateBinaryOperator, _ i: Int, _ j: Int) throws -> TemplateValue {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> TemplateValue {
            if r.overflow { throw integerOverflow() }
            return .int(r.partialValue)
        }
        switch op {
        case .add: return try checked(i.addingReportingOverflow(j))
        case .subtract: return try checked(i.subtractingReportingOverflow(j))
        case .multiply: return try checked(i.multipliedReportingOverflow(by: j))
        case .divide:
            guard j != 0 else { throw Self.typeError("division by zero") }
            return .double(Double(i) / Double(j))
        case .floorDivide, .modulo:
            guard j != 0 else { throw Self.typeError("integer division or modulo by zero") }
            if i == Int.min && j == -1 { throw integerOverflow() }
            var q = i / j, r = i % j
            if r != 0 && ((r < 0) != (j < 0)) { q -= 1; r += j }
            return .int(op == .modulo ? r : q)
        case .power:
            if j < 0 { return .double(pow(Double(i), Double(j))) }
            var result = 1, base = i, e = j
            while e > 0 {
                if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base)).integer! }
                e >>= 1
                if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base)).integer! }
            }
            return .int(result)
        case .concat: return .none
        }
    }

    /// Python's float `divmod`: the quotient floored, the remainder with the divisor's sign.
    static func floatDivMod(_ vx: Double, _ wx: Double) -> (Double, Double) {
        var mod = vx.truncatingRemainder(dividingBy: wx)
        var div = (vx - mod) / wx
        if mod != 0 {
            if (wx < 0) != (mod < 0) { mod += wx; div -= 1 }
        } else {
            mod = Double(signOf: wx, magnitudeOf: 0)
        }
        var floorDiv: Double
        if div != 0 {
            floorDiv = div.rounded(.down)
            if div - floorDiv > 0.5 { floorDiv += 1 }
        } else {
            floorDiv = Double(signOf: vx / wx, magnitudeOf: 0)
        }
        return (floorDiv, mod)
    }

    /// A comparison, `in` or `not in`.
    func compare(_ op: TemplateComparison, _ a: TemplateValue, _ b: TemplateValue) throws -> Bool {
        switch op {
        case .equal: return a.equals(b)
        case .notEqual: return !a.equals(b)
        case .contains: return try contains(b, a)
        case .notContains: return !(try contains(b, a))
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order = try Self.order(a, b, op.rawValue)
            switch op {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0 or 1 for values Python can order (numbers, strings by code point, lists and tuples element-wise).
    static func order(_ a: TemplateValue, _ b: TemplateValue, _ op: String = "<") throws -> Int {
        if case .undefined(let hint) = a { throw undefinedError(hint) }
        if case .undefined(let hint) = b { throw undefinedError(hint) }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            for (p, q) in zip(x.unicodeScalars, y.unicodeScalars) where p != q { return p.value < q.value ? -1 : 1 }
            let (m, n) = (x.unicodeScalars.count, y.unicodeScalars.count)
            return m == n ? 0 : (m < n ? -1 : 1)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !p.equals(q) { return try order(p, q, op) }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            guard let x = a.numeric, let y = b.numeric else {
                throw typeError("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            if case .int(let i) = x, case .int(let j) = y { return i == j ? 0 : (i < j ? -1 : 1) }
            let (p, q) = (x.asDouble, y.asDouble)
            return p == q ? 0 : (p < q ? -1 : 1)
        }
    }

    /// `needle in container`.
    func contains(_ container: TemplateValue, _ needle: TemplateValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                if case .undefined(let hint) = needle { throw Self.undefinedError(hint) }
                throw Self.typeError("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || Array(s.unicodeScalars).firstRange(of: Array(n.unicodeScalars)) != nil
        case .list(let a), .tuple(let a): return a.contains { $0.equals(needle) }
        case .dict(let d):
            try Self.checkHashable(needle)
            return d[needle] != nil
        case .undefined: return false
        default: throw Self.typeError("argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// `format % args` with `%s %r %d %i %f %x %%` (flags, width and precision), `%(name)s` with a dict.
    func percentFormat(_ format: String, _ args: TemplateValue) throws -> String {
        var values: [TemplateValue]
        switch args {
        case .tuple(let a): values = a
        default: values = [args]
        }
        var out = ""
        let f = Array(format.unicodeScalars)
        var i = 0
        var used = 0
        while i < f.count {
            guard f[i] == "%" else { out.unicodeScalars.append(f[i]); i += 1; continue }
            i += 1
            guard i < f.count else { throw Self.typeError("incomplete format") }
            var value: TemplateValue?
            if f[i] == "(" {
                guard let close = f[i...].firstIndex(of: ")"), case .dict(let d) = args else { throw Self.typeError("format requires a mapping") }
                value = d[.string(String(String.UnicodeScalarView(f[(i + 1)..<close])))]
                i = close + 1
            }
            var spec = ""
            while i < f.count, "-+ #0123456789.".unicodeScalars.contains(f[i]) { spec.unicodeScalars.append(f[i]); i += 1 }
            guard i < f.count else { throw Self.typeError("incomplete format") }
            let conversion = f[i]
            i += 1
            if conversion == "%" { out += "%"; continue }
            if value == nil {
                guard used < values.count else { throw Self.typeError("not enough arguments for format string") }
                value = values[used]
                used += 1
            }
            out += try TemplateFilters.formatOne(value!, spec: spec, conversion: conversion)
            try checkSize(out)
        }
        if used < values.count, case .tuple = args { throw Self.typeError("not all arguments converted during string formatting") }
        return out
    }
}

extension TemplateValue {
    var isString: Bool { if case .string = self { return true } else { return false } }
    var isList: Bool { if case .list = self { return true } else { return false } }
    /// The value as an int when it is int or bool.
    var integer: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}
