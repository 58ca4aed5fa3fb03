import BFFNCore

/// The paper's two routing objectives (arXiv 2507.08771 §3.2; docs/training.md gives the formulas and their
/// sources), measured on router logits: what the training minimised, so a user sees how far a checkpoint's
/// routing is from what its training asked for.
///
/// - Activation locality loss: the mean over tokens t ≥ 1 of each sequence and experts i of
///   BCE-with-logits(α·A⁰_i(t−1), σ(α·A⁰_i(t))), α = 100, A⁰ the pre-ReLU router logits.
/// - Chunk sparsification loss: with s = ReLU(A⁰) / √(mean(ReLU(A⁰)²) + ε) and p = s / (Σ s + 1e-5) per token,
///   P_i = 1 − exp(Σ over a chunk of log(1 − p_i + 1e-5)) for every non-overlapping chunk of `chunkLength` tokens
///   of a sequence (a shorter tail is dropped); the mean over chunks and experts.
///
/// Both per layer and averaged over layers, computed in double precision.
public struct RoutingObjectives: Sendable, Equatable {
    /// The sharpness α of the locality loss.
    public static let alpha = 100.0

    /// One layer's two losses.
    public struct Layer: Sendable, Equatable {
        public var activationLocalityLoss: Double
        public var chunkSparsificationLoss: Double
    }

    /// The chunk length of the sparsification loss.
    public var chunkLength: Int
    /// Per layer.
    public var layers: [Layer]
    /// The means over layers.
    public var activationLocalityLoss: Double { layers.isEmpty ? 0 : layers.map(\.activationLocalityLoss).reduce(0, +) / Double(layers.count) }
    public var chunkSparsificationLoss: Double { layers.isEmpty ? 0 : layers.map(\.chunkSparsificationLoss).reduce(0, +) / Double(layers.count) }

    /// The objectives of `sequences`, each given as per-layer router logits (`tokens × experts` row-major, experts
    /// in source order); `epsilon` is the model's `rms_norm_eps`.
    public init(sequences: [[[Float]]], experts E: Int, chunkLength: Int, epsilon: Double) {
        self.chunkLength = chunkLength
        let layerCount = sequences.first?.count ?? 0
        var layers: [Layer] = []
        let a = RoutingObjectives.alpha
        for l in 0..<layerCount {
            var bce = 0.0, pairs = 0, chunkSum = 0.0, chunkTerms = 0
            for sequence in sequences {
                let x = sequence[l]
                let T = x.count / max(E, 1)
                for t in stride(from: 1, to: T, by: 1) {
                    for i in 0..<E {
                        let z = a * Double(x[(t - 1) * E + i]), y = 1 / (1 + exp(-a * Double(x[t * E + i])))
                        bce += max(z, 0) - z * y + log1p(exp(-abs(z)))
                        pairs += 1
                    }
                }
                // p per token, then the chunks.
                var p = [Double](repeating: 0, count: T * E)
                for t in 0..<T {
                    var squares = 0.0
                    for i in 0..<E { let v = max(Double(x[t * E + i]), 0); squares += v * v }
                    let inv = 1 / (squares / Double(E) + epsilon).squareRoot()
                    var sum = 0.0
                    for i in 0..<E { sum += max(Double(x[t * E + i]), 0) * inv }
                    for i in 0..<E { p[t * E + i] = max(Double(x[t * E + i]), 0) * inv / (sum + 1e-5) }
                }
                for c in 0..<(chunkLength > 0 ? T / chunkLength : 0) {
                    for i in 0..<E {
                        var logs = 0.0
                        for t in (c * chunkLength)..<((c + 1) * chunkLength) { logs += log(1 - p[t * E + i] + 1e-5) }
                        chunkSum += 1 - exp(logs)
                        chunkTerms += 1
                    }
                }
            }
            layers.append(Layer(activationLocalityLoss: pairs > 0 ? bce / Double(pairs) : 0,
                                chunkSparsificationLoss: chunkTerms > 0 ? chunkSum / Double(chunkTerms) : 0))
        }
        self.layers = layers
    }
}
