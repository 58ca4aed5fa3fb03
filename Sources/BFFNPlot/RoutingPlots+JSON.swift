import BFFNCore

extension RoutingPlots.Trace {
    /// `bffn plot --json` (docs/json.md, "plot"): the folder written, its files, how many prompts ran, and the
    /// token-level and chunk-level sparsity (per chunk length) of this trace.
    public func json(output: String, files: [String]) -> JSONValue {
        let stats = statistics
        return .object([
            ("output", .string(output)), ("files", .array(files.map { .string($0) })), ("prompts", .integer(scores.count)),
            ("tokens", .integer(stats.tokens)), ("token_level_sparsity", .double(stats.tls)),
            ("chunk_level_sparsity", .object(stats.overall.sorted { $0.key < $1.key }.map { (String($0.key), JSONValue.double($0.value)) })),
        ])
    }
}
