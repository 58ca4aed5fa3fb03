import BFFNCore

/// What `bffn synth` records in the folder's synth.json and prints with `--json` (docs/json.md, "synth"): the
/// options, the weights written, the workload that reproduces the requested sparsity, and what a measurement on
/// it found.
public struct SynthReport: Sendable {
    /// Routing sparsity measured on the workload: over `tokens` tokens, TLS and CLS8 (nil when undefined).
    public struct Measured: Sendable, Equatable {
        public var tokens: Int
        public var tokenLevelSparsity: Double
        public var chunkLevelSparsity8: Double?

        /// A measurement.
        public init(tokens: Int, tokenLevelSparsity: Double, chunkLevelSparsity8: Double?) {
            self.tokens = tokens
            self.tokenLevelSparsity = tokenLevelSparsity
            self.chunkLevelSparsity8 = chunkLevelSparsity8
        }
    }

    /// The options the checkpoint was written with.
    public var options: SynthOptions
    /// The weight file or folder written.
    public var weightPath: String
    /// The measurement, when one was asked for.
    public var measured: Measured?

    /// A report.
    public init(options: SynthOptions, weightPath: String, measured: Measured?) {
        self.options = options
        self.weightPath = weightPath
        self.measured = measured
    }

    /// `{preset, weights, format, dtype, seed, requested {token_level_sparsity, chunk_level_sparsity {"8"}},
    /// workload {description, topics, switch_probability, seed, measured_sequences, sample_prompts}, measured}`
    /// (`measured` null without a measurement, else `{tokens, token_level_sparsity, chunk_level_sparsity {"8"}}`).
    public var json: JSONValue {
        let o = options, workload = SyntheticCheckpoint.workload(o)
        let measuredJSON: JSONValue = measured.map { m in
            .object([("tokens", .integer(m.tokens)), ("token_level_sparsity", .double(m.tokenLevelSparsity)),
                     ("chunk_level_sparsity", .object([("8", m.chunkLevelSparsity8.map { .double($0) } ?? .null)]))])
        } ?? .null
        return .object([
            ("preset", .string(o.preset.name)), ("weights", .string(weightPath)), ("format", .string(o.format.rawValue)),
            ("dtype", .string(o.dtype.rawValue)), ("seed", .integer(Int64(bitPattern: o.seed))),
            ("requested", .object([("token_level_sparsity", .double(o.tls)), ("chunk_level_sparsity", .object([("8", .double(o.cls8))]))])),
            ("workload", .object([("description", "Markov chain over vocabulary topics: token t is in topic t mod topics; before each token after the first the topic switches to a uniformly random one with switch_probability; tokens are uniform within the topic"),
                                  ("topics", .integer(workload.topics)), ("switch_probability", .double(workload.switchProbability)),
                                  ("seed", .integer(Int64(bitPattern: workload.seed))), ("measured_sequences", "index 0, 1, ... of 64 tokens"),
                                  ("sample_prompts", "workload.txt (indices 1000-1007)")])),
            ("measured", measuredJSON),
        ])
    }
}
