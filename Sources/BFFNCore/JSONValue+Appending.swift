extension JSONValue {
    /// This object with `key: value` added after its members (a command adding what only it knows, such as the
    /// memory report, to a library type's `json`); any other value is returned unchanged.
    public func appending(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(let members) = self else { return self }
        return .object(members + [JSONMember(key, value)])
    }
}

extension JSONValue {
    /// The version of the JSON vocabulary every report is spelled in (docs/json.md); bumped when a key changes
    /// meaning.
    public static let schemaVersion = 1

    /// This value with `"schema": schemaVersion` as its first member (objects only; other values as they are):
    /// what `bffn ... --json` prints and the C interface returns.
    public var versioned: JSONValue {
        guard case .object(let members) = self else { return self }
        return .object([JSONMember("schema", .integer(Self.schemaVersion))] + members.filter { $0.key != "schema" })
    }
}
