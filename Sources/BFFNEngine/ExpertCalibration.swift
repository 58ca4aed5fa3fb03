import BFFNCore

/// How often each expert fired, and with which others, over calibration token sequences.
public struct ExpertCalibration: Sendable {
    /// Sequences and tokens run.
    public var sequences: Int
    public var tokens: Int
    /// Experts per layer.
    public var experts: Int
    /// [layer][source expert]: tokens for which the expert was active.
    public var activations: [[Int]]
    /// [layer][e * experts + f]: tokens for which experts e and f were both active (e != f).
    public var coActivations: [[Int]]
    /// Sparsity statistics of the calibration tokens.
    public var sparsity: SparsityStatistics
    /// Per sequence, per layer, the router scores [tokens × experts] in source order (0: inactive).
    public var routing: [[[Float]]] = []

    /// Runs every sequence through `engine` (cache reset before each) and counts activations.
    /// - Throws: `.usage` without sequences; the engine's errors (a token id outside the vocabulary).
    public static func run(_ engine: Engine, sequences: [[Int]], progress: (Int, Int) -> Void = { _, _ in }) throws -> ExpertCalibration {
        guard !sequences.isEmpty, sequences.allSatisfy({ !$0.isEmpty }) else {
            throw BFFNError(.usage, "calibration needs at least one non-empty token sequence", field: "calibration")
        }
        let E = engine.weights.architecture.numExperts, L = engine.weights.architecture.numLayers
        var activations = [[Int]](repeating: [Int](repeating: 0, count: E), count: L)
        var co = [[Int]](repeating: [Int](repeating: 0, count: E * E), count: L)
        var captured: [[[Float]]] = []
        for (i, s) in sequences.enumerated() {
            let out = try engine.forwardCapturing(s)
            let scores = engine.weights.sourceOrdered(out.routerScores)
            for (l, r) in scores.enumerated() {
                for t in 0..<(r.count / max(E, 1)) {
                    let active = (0..<E).filter { r[t * E + $0] != 0 }
                    for e in active {
                        activations[l][e] += 1
                        for f in active where f != e { co[l][e * E + f] += 1 }
                    }
                }
            }
            if !scores.isEmpty { captured.append(scores) }
            progress(i + 1, sequences.count)
        }
        return ExpertCalibration(sequences: sequences.count, tokens: sequences.reduce(0) { $0 + $1.count }, experts: E,
                                 activations: activations, coActivations: co, sparsity: SparsityStatistics(sequences: captured, experts: E),
                                 routing: captured)
    }

    /// Per layer, the source experts most used first (ties: the lower index first): the pack's slot order.
    public var hotFirstOrder: [[Int]] {
        activations.map { counts in counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) } }
    }

    /// Probability that source expert `e` of `layer` is active for a token.
    public func activationProbability(layer: Int, expert e: Int) -> Double {
        tokens > 0 ? Double(activations[layer][e]) / Double(tokens) : 0
    }

    /// Per layer, the `count` pairs of experts most often active together: (e, f, tokens), e < f.
    public func topPairs(layer: Int, count: Int) -> [(Int, Int, Int)] {
        var pairs: [(Int, Int, Int)] = []
        for e in 0..<experts { for f in (e + 1)..<max(experts, e + 1) { pairs.append((e, f, coActivations[layer][e * experts + f])) } }
        return Array(pairs.sorted { $0.2 > $1.2 || ($0.2 == $1.2 && ($0.0, $0.1) < ($1.0, $1.1)) }.prefix(count))
    }
}
