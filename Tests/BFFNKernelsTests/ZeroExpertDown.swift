import BFFNKernels
import BFFNTestSupport

/// A down projection over three experts whose middle expert's gates are all zero, computed densely (all three
/// experts) and sparsely (the union {0, 2}): what the dense = sparse checks of every product path compare.
struct ZeroExpertDown {
    /// Per token the three experts' gates (de each; expert 1's zero), and the outputs ([tokens, H]) both ways.
    let gates: [Float], dense: [Float], sparse: [Float]

    /// `blocks[e]` holds expert e's [H, de] down rows stored as `type`; gates are seeded from `seed`.
    init(blocks: [[UInt8]], type: StorageType, outputs H: Int, expertSize de: Int, tokens: Int, seed: UInt32, activations: ActivationPrecision) {
        var gates: [Float] = [], union: [Float] = []
        for t in 0..<tokens {
            for e in 0..<3 {
                let segment: [Float] = e == 1 ? [Float](repeating: 0, count: de) : SeededValues.floats(de, seed: seed + UInt32(t * 3 + e))
                gates += segment
                if e != 1 { union += segment }
            }
        }
        var dense = [Float](repeating: 0, count: tokens * H), sparse = dense
        blocks[0].withUnsafeBytes { b0 in blocks[1].withUnsafeBytes { b1 in blocks[2].withUnsafeBytes { b2 in
            let m = [b0, b1, b2].map { WeightMatrix(base: $0.baseAddress!, type: type, rows: H, cols: de) }
            gates.withUnsafeBufferPointer { ExpertMatMul.down(g: $0.baseAddress!, tokens: tokens, blocks: m, out: &dense, threads: 1, activations: activations) }
            union.withUnsafeBufferPointer { ExpertMatMul.down(g: $0.baseAddress!, tokens: tokens, blocks: [m[0], m[2]], out: &sparse, threads: 1, activations: activations) }
        } } }
        (self.gates, self.dense, self.sparse) = (gates, dense, sparse)
    }

    /// Token t's gates over the three experts.
    func gates(token t: Int, expertSize de: Int) -> [Float] { Array(gates[(t * 3 * de)..<((t + 1) * 3 * de)]) }
}
