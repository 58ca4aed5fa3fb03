import BFFNCore

/// The arguments of a filter, test, method or global, bound to Python-style parameters: by position, then by
/// keyword, else a default.
struct BoundArguments {
    let name: String
    let positional: [TemplateValue]
    let keyword: [(String, TemplateValue)]

    /// Binds `positional` and `keyword` to `parameters` (in order).
    /// - Throws: `.templateError` for an unknown keyword or too many positional arguments.
    init(_ name: String, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)], parameters: [String]) throws {
        self.name = name
        guard positional.count <= parameters.count else {
            throw TemplateRenderer.typeError("\(name)() takes at most \(parameters.count) argument(s) (\(positional.count) given)")
        }
        for (k, _) in keyword where !parameters.contains(k) {
            throw TemplateRenderer.typeError("\(name)() got an unexpected keyword argument '\(k)'")
        }
        var values: [TemplateValue?] = parameters.map { _ in nil }
        for (i, v) in positional.enumerated() { values[i] = v }
        for (k, v) in keyword { values[parameters.firstIndex(of: k)!] = v }
        self.positional = positional
        self.keyword = keyword
        self.values = values
    }

    private let values: [TemplateValue?]

    subscript(_ i: Int) -> TemplateValue? { values[i] }

    func string(_ i: Int, _ defaultValue: String) throws -> String {
        guard let v = values[i], !(v.isNone) else { return defaultValue }
        guard case .string(let s) = v else { throw TemplateRenderer.typeError("\(name)(): argument \(i + 1) must be str, not \(v.typeName)") }
        return s
    }

    func optionalString(_ i: Int) throws -> String? {
        guard let v = values[i], !v.isNone else { return nil }
        guard case .string(let s) = v else { throw TemplateRenderer.typeError("\(name)(): argument \(i + 1) must be str or None, not \(v.typeName)") }
        return s
    }

    func int(_ i: Int, _ defaultValue: Int) throws -> Int {
        guard let v = values[i], !v.isNone else { return defaultValue }
        guard let n = v.integer else { throw TemplateRenderer.typeError("\(name)(): argument \(i + 1) must be an integer, not \(v.typeName)") }
        return n
    }

    func bool(_ i: Int, _ defaultValue: Bool) -> Bool { values[i].map(\.truthy) ?? defaultValue }
}

extension TemplateValue {
    var isNone: Bool { if case .none = self { return true } else { return false } }
}
