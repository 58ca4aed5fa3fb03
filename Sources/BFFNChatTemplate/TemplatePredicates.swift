import BFFNCore

/// jinja2's tests (`x is name`, `x is not name(args)`), with Python's types: `number` includes bool, `integer`
/// does not; undefined is `iterable` (jinja2's Undefined iterates as empty) but not a `sequence`.
extension TemplateRenderer {
    func applyTest(_ name: String, _ value: TemplateValue, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> Bool {
        func other() throws -> TemplateValue {
            let a = try BoundArguments(name, positional, keyword, parameters: ["other"])
            guard let v = a[0] else { throw Self.typeError("\(name)() missing required argument 'other'") }
            return v
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number": return value.numeric != nil
        case "string": return value.isString
        case "mapping": if case .dict = value { return true } else { return false }
        case "iterable":
            switch value {
            case .undefined, .string, .list, .tuple, .dict, .namespace: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable": if case .function = value { return true } else { return false }
        case "escaped": return false
        case "lower": return PythonText.isLower(value.pythonString)
        case "upper": return PythonText.isUpper(value.pythonString)
        case "even", "odd":
            let r = try binary(.modulo, value, .int(2))
            return r.equals(.int(name == "even" ? 0 : 1))
        case "divisibleby":
            let a = try BoundArguments(name, positional, keyword, parameters: ["num"])
            guard let n = a[0] else { throw Self.typeError("divisibleby() missing required argument 'num'") }
            return try binary(.modulo, value, n).equals(.int(0))
        case "sameas":
            let o = try other()
            switch (value, o) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "eq", "equalto", "==": return value.equals(try other())
        case "ne", "!=": return !value.equals(try other())
        case "lt", "lessthan", "<": return try Self.order(value, try other(), "<") < 0
        case "le", "<=": return try Self.order(value, try other(), "<=") <= 0
        case "gt", "greaterthan", ">": return try Self.order(value, try other(), ">") > 0
        case "ge", ">=": return try Self.order(value, try other(), ">=") >= 0
        case "in":
            let a = try BoundArguments(name, positional, keyword, parameters: ["seq"])
            guard let seq = a[0] else { throw Self.typeError("in() missing required argument 'seq'") }
            return try contains(seq, value)
        default:
            throw Self.typeError("No test named '\(name)'.")
        }
    }
}

extension PythonText {
    /// `str.islower()`: at least one cased code point and none upper-case.
    static func isLower(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isLowercase { cased = true }
        }
        return cased
    }

    /// `str.isupper()`: at least one cased code point and none lower-case.
    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isLowercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isUppercase { cased = true }
        }
        return cased
    }
}
