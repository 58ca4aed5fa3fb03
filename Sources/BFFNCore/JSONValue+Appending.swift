extension JSONValue {
    /// This object with `key: value` added after its members (a command adding what only it knows, such as the
    /// memory report, to a library type's `json`); any other value is returned unchanged.
    public func appending(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(let members) = self else { return self }
        return .object(members + [JSONMember(key, value)])
    }
}
