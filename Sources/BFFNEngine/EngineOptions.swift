import BFFNKernels

/// How the BlockFFN experts are computed.
public enum FFNMode: String, Sendable, CaseIterable {
    /// Only the union of experts active for any token of each chunk of the call (`EngineOptions.expertChunk`) is
    /// read and computed (docs/model.md, decision 7).
    case sparse
    /// Every expert is computed; inactive ones contribute exact zeros. Gives the same logits bit for bit.
    case dense
}

/// Engine settings.
public struct EngineOptions: Sendable {
    /// Worker threads for matrix products (results do not depend on it).
    public var threads: Int = 1
    /// Sparse (default) or dense experts.
    public var ffnMode: FFNMode = .sparse
    /// Keep each layer's router scores of the last call (for verification and sparsity statistics).
    public var captureRouterScores = false
    /// Keep each layer's router logits before the ReLU (A⁰, experts in source order) of the last call: what the
    /// training objectives (`RoutingObjectives`) are computed from.
    public var captureRouterLogits = false
    /// Keep each layer's output hidden state (the residual stream after the layer) of the last call.
    public var captureHiddenStates = false
    /// How activations meet q8 / q4 and bf16 weights (formats/numerics.md): float32 times the dequantized weights
    /// (the library's default and the reference), int8-quantized activations and integer products (`.int8`),
    /// bf16 products (`.bf16`), or `.auto`, the fastest exact path this CPU has for each weight type (the command
    /// line's default).
    /// f32 and f16 weights always use float32 (bf16 weights too, unless `.bf16` or `.auto` picks bf16 products).
    public var activations: ActivationPrecision = .float
    /// Keep every token's final-normed hidden state of the last call in `ForwardOutput.features` (what an EAGLE
    /// draft head reads); the logits are unchanged.
    public var captureFeatures = false
    /// Sparse mode with mapped experts: the tokens of a call are taken in chunks of this many, each computing
    /// only the union of its own tokens' experts (BlockFFN's chunk-level sparsity; the logits are the same bits
    /// for any chunk size, since a token's inactive experts add exact zeros); 0 computes the whole call's union.
    /// An expert provider (a memory budget) always gets the whole call's union, so it reads each expert once.
    public var expertChunk = 8
    /// How the KV cache stores keys and values: float32 (the default and the reference) or bf16 (half the bytes
    /// attention reads; formats/numerics.md, "KV cache"). Fixed when the engine is made.
    public var kvCache: KVCachePrecision = .float32
    public init(threads: Int = 1, ffnMode: FFNMode = .sparse, captureRouterScores: Bool = false, captureHiddenStates: Bool = false) {
        self.threads = threads
        self.ffnMode = ffnMode
        self.captureRouterScores = captureRouterScores
        self.captureHiddenStates = captureHiddenStates
    }
}

/// Which tokens of a forward call get logits (the LM head is the largest single product of a call).
public enum LogitRows: Sendable, Equatable {
    /// Every token of the call (verification, speculative decoding, reference comparisons).
    case all
    /// Only the call's last token (a prompt whose next token is all that is needed). Its logits are the same
    /// bits as with `.all`.
    case last
    /// Only the call's last `n` tokens (1...T; more rows than tokens means all): several sequences decoded in one
    /// call put the tokens that need logits last. Each row is the same bits as with `.all`.
    case lastTokens(Int)

    /// The call's first token that gets logits, for a call of `tokens` tokens.
    public func firstRow(tokens T: Int) -> Int {
        switch self {
        case .all: return 0
        case .last: return max(T - 1, 0)
        case .lastTokens(let n): return max(T - max(n, 0), 0)
        }
    }
}
