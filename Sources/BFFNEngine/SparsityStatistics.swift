/// Token-level and chunk-level sparsity of router activations (BLOCKFFN-SPEC.md 6.1, DECISIONS.md 3 and 9).
///
/// An expert is active for a token iff its router score is > 0 (after ReLU; the normalisations keep zeros).
/// CLS_L uses non-overlapping windows of L consecutive tokens of the sequence given, dropping a shorter last
/// window; TLS = CLS_1. Values are fractions of experts inactive, in [0, 1].
public struct SparsityStatistics: Sendable {
    /// The chunk lengths reported.
    public static let chunkLengths = [1, 2, 4, 8, 16, 32, 64]

    /// Per layer: chunk length → CLS (absent when the sequence is shorter than the chunk).
    public var perLayer: [[Int: Double]]
    /// Per chunk length: the mean over layers.
    public var overall: [Int: Double]

    /// Token-level sparsity over all layers.
    public var tls: Double { overall[1] ?? 0 }

    /// Computes the statistics from per-layer scores, each `tokens × experts` row-major.
    public init(routerScores: [[Float]], experts: Int) {
        var layers: [[Int: Double]] = []
        for scores in routerScores {
            let T = scores.count / max(experts, 1)
            var row: [Int: Double] = [:]
            for L in SparsityStatistics.chunkLengths where T >= L {
                let windows = T / L
                var activeSum = 0
                for w in 0..<windows {
                    var union = [Bool](repeating: false, count: experts)
                    for t in (w * L)..<((w + 1) * L) {
                        for e in 0..<experts where scores[t * experts + e] > 0 { union[e] = true }
                    }
                    activeSum += union.filter { $0 }.count
                }
                row[L] = 1 - Double(activeSum) / Double(windows * experts)
            }
            layers.append(row)
        }
        perLayer = layers
        var overall: [Int: Double] = [:]
        for L in SparsityStatistics.chunkLengths {
            let values = layers.compactMap { $0[L] }
            if !values.isEmpty { overall[L] = values.reduce(0, +) / Double(values.count) }
        }
        self.overall = overall
    }
}
