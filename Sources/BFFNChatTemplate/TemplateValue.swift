import BFFNCore

/// A value while a template renders, with Python's meaning (what jinja2 sees): JSON arrays are lists, objects
/// are dicts that keep their order, numbers are int or float.
///
/// `@unchecked Sendable`: the reference payloads (namespaces, functions, loops) are created by one render and
/// never leave it; the values in a parsed template are literals only.
enum TemplateValue: @unchecked Sendable {
    /// jinja2's default `Undefined`: prints as "", is false, iterates as empty; most other uses fail with
    /// `hint` (e.g. "'x' is undefined").
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([TemplateValue])
    case tuple([TemplateValue])
    case dict(TemplateDict)
    case namespace(TemplateNamespace)
    case function(TemplateFunction)
    case loop(TemplateLoop)

    /// A value from JSON: arrays become lists, objects dicts, integers int, other numbers float.
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(Int(i))
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(TemplateValue.init))
        case .object(let members):
            var d = TemplateDict()
            for m in members { d[.string(m.key)] = TemplateValue(m.value) }
            self = .dict(d)
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Python's truth value (`bool(x)`).
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .function, .loop: return true
        }
    }

    /// The Python type name, for error messages ("str", "int", "dict", ...).
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .function: return "function"
        case .loop: return "LoopContext"
        }
    }

    /// Python's `==` (numbers compare across int, float and bool; dicts regardless of order; list != tuple).
    func equals(_ other: TemplateValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.keys.allSatisfy { k in b[k].map { a[k]!.equals($0) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.function(let a), .function(let b)): return a === b
        case (.loop(let a), .loop(let b)): return a === b
        default:
            if let x = numeric, let y = other.numeric {
                switch (x, y) {
                case (.int(let i), .int(let j)): return i == j
                default: return x.asDouble == y.asDouble
                }
            }
            return false
        }
    }

    /// The value as a number when it is int, float or bool (bool as 0 / 1).
    var numeric: TemplateValue? {
        switch self {
        case .int, .double: return self
        case .bool(let b): return .int(b ? 1 : 0)
        default: return nil
        }
    }

    var asDouble: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return .nan
        }
    }
}

/// A Python dict: insertion-ordered, string keys looked up by hash, other keys (int, tuple, ...) by equality.
struct TemplateDict {
    private(set) var keys: [TemplateValue] = []
    private(set) var values: [TemplateValue] = []
    private var stringIndex: [String: Int] = [:]

    var count: Int { keys.count }

    private func index(of key: TemplateValue) -> Int? {
        switch key {
        case .string(let s): return stringIndex[s]
        case .bool(let b): return keys.firstIndex { $0.equals(.int(b ? 1 : 0)) }
        default: return keys.firstIndex { $0.equals(key) }
        }
    }

    subscript(key: TemplateValue) -> TemplateValue? {
        get { index(of: key).map { values[$0] } }
        set {
            if let i = index(of: key) {
                if let newValue { values[i] = newValue } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                    stringIndex = [:]
                    for (k, key) in keys.enumerated() { if case .string(let s) = key { stringIndex[s] = k } }
                }
            } else if let newValue {
                if case .string(let s) = key { stringIndex[s] = keys.count }
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// The `(key, value)` pairs in order.
    var items: [(TemplateValue, TemplateValue)] { Array(zip(keys, values)) }
}

/// `namespace(...)`: the one object a template may change (`{% set ns.attr = ... %}`), shared by reference so
/// assignments inside loops are seen after them.
final class TemplateNamespace {
    var attributes = TemplateDict()
}

/// Something a template can call: a global, a bound method, a macro, `caller`, `loop.cycle`.
final class TemplateFunction {
    /// The name, for error messages.
    let name: String
    /// Runs the call with positional and keyword arguments.
    let body: (TemplateRenderer, [TemplateValue], [(String, TemplateValue)]) throws -> TemplateValue

    init(_ name: String, _ body: @escaping (TemplateRenderer, [TemplateValue], [(String, TemplateValue)]) throws -> TemplateValue) {
        self.name = name
        self.body = body
    }
}

/// The `loop` variable of a `for` statement.
final class TemplateLoop {
    let items: [TemplateValue]
    var index0 = 0
    let depth0: Int
    var lastChanged: [TemplateValue]?

    init(items: [TemplateValue], depth0: Int) {
        self.items = items
        self.depth0 = depth0
    }

    /// `loop.<name>`: index, index0, revindex, revindex0, first, last, length, previtem, nextitem, depth,
    /// depth0, cycle, changed; undefined for anything else.
    func attribute(_ name: String) -> TemplateValue {
        let n = items.count
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(n - index0)
        case "revindex0": return .int(n - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == n - 1)
        case "length": return .int(n)
        case "depth": return .int(depth0 + 1)
        case "depth0": return .int(depth0)
        case "previtem": return index0 > 0 ? items[index0 - 1] : .undefined("there is no previous item")
        case "nextitem": return index0 + 1 < n ? items[index0 + 1] : .undefined("there is no next item")
        case "cycle":
            return .function(TemplateFunction("loop.cycle") { _, args, _ in
                guard !args.isEmpty else { throw TemplateRenderer.typeError("no items for cycling given") }
                return args[self.index0 % args.count]
            })
        case "changed":
            return .function(TemplateFunction("loop.changed") { _, args, _ in
                if let last = self.lastChanged, last.count == args.count, zip(last, args).allSatisfy({ $0.equals($1) }) { return .bool(false) }
                self.lastChanged = args
                return .bool(true)
            })
        default: return .undefined("'LoopContext' object has no attribute '\(name)'")
        }
    }
}
