/// What a weight tensor is for: the unit the converter quantizes by, reports errors by, and device profiles
/// and `--override CLASS=SCHEME` name.
public enum TensorClass: String, Sendable, CaseIterable, Comparable {
    /// The token embedding.
    case embeddings
    /// Attention projections (MLA or GQA/MHA).
    case attention
    /// A dense (vanilla) gated FFN.
    case denseFFN = "dense_ffn"
    /// BlockFFN expert up and down weights.
    case experts
    /// BlockFFN router weights (always kept in their source dtype).
    case router
    /// RMSNorm weights (always kept in their source dtype).
    case norms
    /// The LM head when it is not tied to the embedding.
    case head

    /// Whether the converter may change this class's storage (the router and norms always keep theirs).
    public var isQuantizable: Bool { self != .router && self != .norms }

    /// The classes `--override` and device profiles may name, in report order.
    public static var quantizable: [TensorClass] { allCases.filter(\.isQuantizable) }

    /// Report order: embeddings, attention, dense_ffn, experts, router, norms, head.
    public static func < (a: TensorClass, b: TensorClass) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
