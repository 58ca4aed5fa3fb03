import BFFNCore

extension ExpertCacheSimulator.Result {
    /// One policy's row in `bffn trace --simulate --json` (docs/json.md, "trace (simulate)"): `policy`, `accesses`, `hits`,
    /// `hit_rate`, `bytes_read`, `bytes_per_token`.
    public var json: JSONValue {
        .object([("policy", .string(policy.rawValue)), ("accesses", .integer(accesses)), ("hits", .integer(hits)),
                 ("hit_rate", .double(hitRate)), ("bytes_read", .integer(bytesRead)), ("bytes_per_token", .double(bytesPerToken))])
    }
}
