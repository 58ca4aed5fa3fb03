/// Token-level and chunk-level sparsity of router activations, the spread of active experts per token, and the
/// reuse between consecutive tokens (docs/model.md, "Sparsity metrics" and decisions 3 and 9).
///
/// An expert is active for a token iff its captured router score is non-zero (ReLU output > 0; the normalisations
/// keep zeros and only scale the rest). CLS_L uses non-overlapping windows of L consecutive tokens of each
/// sequence, dropping a shorter last window; windows never span two sequences; TLS = CLS_1. Sparsities are
/// fractions of experts inactive, in [0, 1].
public struct SparsityStatistics: Sendable {
    /// The chunk lengths reported.
    public static let chunkLengths = [1, 2, 4, 8, 16, 32, 64]

    /// Five-number summary of a count: minimum, 10th percentile, median, 90th percentile, maximum (percentiles
    /// interpolate linearly between order statistics, as numpy's default).
    public struct Distribution: Sendable, Equatable {
        public var min: Double, p10: Double, median: Double, p90: Double, max: Double

        /// The summary of `values` (all zeros when empty).
        public init(_ values: [Int]) {
            let v = values.sorted().map(Double.init)
            func percentile(_ p: Double) -> Double {
                guard !v.isEmpty else { return 0 }
                let position = p / 100 * Double(v.count - 1)
                let low = Int(position.rounded(.down)), high = Swift.min(low + 1, v.count - 1)
                return v[low] + (v[high] - v[low]) * (position - Double(low))
            }
            min = v.first ?? 0
            p10 = percentile(10)
            median = percentile(50)
            p90 = percentile(90)
            max = v.last ?? 0
        }
    }

    /// One layer's statistics.
    public struct Layer: Sendable {
        /// Chunk length → CLS (absent when no sequence is as long as the chunk).
        public var chunkSparsity: [Int: Double]
        /// Active experts per token.
        public var activeExperts: Distribution
        /// Mean over consecutive token pairs (first set non-empty) of |S_i ∩ S_i+1| / |S_i|; nil without pairs.
        public var reuseRatio: Double?
        /// Tokens with exactly k active experts, for k = 0 ... experts.
        public var activeExpertsHistogram: [Int] = []
    }

    /// Experts per layer.
    public var experts: Int
    /// Tokens counted (over all sequences).
    public var tokens: Int
    /// Per layer.
    public var layers: [Layer]
    /// Per chunk length: the mean over layers.
    public var overall: [Int: Double]
    /// Active experts per (layer, token), pooled over layers.
    public var activeExperts: Distribution
    /// The reuse ratio averaged over layers; nil without pairs.
    public var reuseRatio: Double?
    /// Active experts per (layer, token), pooled over layers: tokens with exactly k active, k = 0 ... experts.
    public var activeExpertsHistogram: [Int] = []
    /// The paper's training objectives measured on the same tokens (`RoutingObjectives`), when router logits
    /// were captured.
    public var objectives: RoutingObjectives?

    /// Token-level sparsity over all layers.
    public var tls: Double { overall[1] ?? 0 }

    /// Statistics of one sequence: per-layer scores, each `tokens × experts` row-major.
    public init(routerScores: [[Float]], experts: Int) {
        self.init(sequences: [routerScores], experts: experts)
    }

    /// Statistics of several sequences, each given as per-layer scores (`tokens × experts` row-major); every
    /// sequence has the same layers.
    public init(sequences: [[[Float]]], experts: Int) {
        self.experts = experts
        let layerCount = sequences.first?.count ?? 0
        tokens = sequences.reduce(0) { $0 + ($1.first?.count ?? 0) / Swift.max(experts, 1) }
        var layers: [Layer] = []
        var pooled: [Int] = []
        for l in 0..<layerCount {
            var unionSums = [Int: (active: Int, windows: Int)]()
            var counts: [Int] = []
            var reuseSum = 0.0, reusePairs = 0
            for sequence in sequences {
                let scores = sequence[l]
                let T = scores.count / Swift.max(experts, 1)
                let active = (0..<T).map { t in (0..<experts).map { scores[t * experts + $0] != 0 } }
                for row in active { counts.append(row.filter { $0 }.count) }
                for t in 0..<Swift.max(T - 1, 0) where counts[counts.count - T + t] > 0 {
                    let both = (0..<experts).filter { active[t][$0] && active[t + 1][$0] }.count
                    reuseSum += Double(both) / Double(counts[counts.count - T + t])
                    reusePairs += 1
                }
                for L in SparsityStatistics.chunkLengths where T >= L {
                    var sum = unionSums[L] ?? (0, 0)
                    for w in 0..<(T / L) {
                        sum.active += (0..<experts).filter { e in (w * L..<(w + 1) * L).contains { active[$0][e] } }.count
                        sum.windows += 1
                    }
                    unionSums[L] = sum
                }
            }
            var cls: [Int: Double] = [:]
            for (L, s) in unionSums { cls[L] = 1 - Double(s.active) / Double(s.windows * experts) }
            var histogram = [Int](repeating: 0, count: experts + 1)
            for c in counts { histogram[c] += 1 }
            layers.append(Layer(chunkSparsity: cls, activeExperts: Distribution(counts),
                                reuseRatio: reusePairs > 0 ? reuseSum / Double(reusePairs) : nil, activeExpertsHistogram: histogram))
            pooled += counts
        }
        self.layers = layers
        var overall: [Int: Double] = [:]
        for L in SparsityStatistics.chunkLengths {
            let values = layers.compactMap { $0.chunkSparsity[L] }
            if !values.isEmpty { overall[L] = values.reduce(0, +) / Double(values.count) }
        }
        self.overall = overall
        activeExperts = Distribution(pooled)
        activeExpertsHistogram = [Int](repeating: 0, count: experts + 1)
        for c in pooled { activeExpertsHistogram[c] += 1 }
        let reuse = layers.compactMap(\.reuseRatio)
        reuseRatio = reuse.isEmpty ? nil : reuse.reduce(0, +) / Double(reuse.count)
    }
}
