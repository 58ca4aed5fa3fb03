@testable import BFFNEngine
import BFFNCheckpoint
import BFFNCore
import BFFNTestSupport
import Testing

/// The shared transformer math: softmax and log-softmax in their documented order of operations, and the rotary
/// embedding with linear and dynamic `rope_scaling`.
@Suite("transformer math")
struct TransformerMathTests {
    @Test func softmaxAndLogSoftmax() throws {
        var scores: [Float] = [1, 3, 2, -1]
        scores.withUnsafeMutableBufferPointer { TransformerMath.softmax($0.baseAddress!, count: $0.count) }
        let e: [Float] = [expf(-2), expf(0), expf(-1), expf(-4)]
        let sum = ((e[0] + e[1]) + e[2]) + e[3]
        #expect(scores == e.map { $0 / sum })
        #expect(abs(scores.reduce(0, +) - 1) < 1e-6)

        let logits: [Float] = [0, 0, 0, 0]
        #expect(abs(TransformerMath.logNormalizer(logits[...]) - log(4.0)) < 1e-12)
        #expect(TransformerMath.logNormalizer(([2, 5] as [Float])[...]) == 5 + log(Double(expf(-3)) + 1))
        var row: [Float] = [2, 5]
        row.withUnsafeMutableBufferPointer { TransformerMath.logSoftmax($0) }
        let logZ = Float(5) + Float(log(Double(expf(-3)) + 1))
        #expect(row == [2 - logZ, 5 - logZ])

        let d = TransformerMath.logSoftmax([1.0, 2.0, 3.0])
        let z = 3 + log(exp(-2.0) + exp(-1.0) + 1)
        #expect(d == [1 - z, 2 - z, 3 - z])
        #expect(TransformerMath.logSoftmax([Float(1), 2, 3][...]) == d)
    }

    static func config(_ scaling: String) throws -> ModelConfig {
        try ModelConfig(json: try JSONValue.parse("{\"rope_theta\": 10000, \"max_position_embeddings\": 64, \"rope_scaling\": \(scaling)}"), path: "config.json")
    }

    @Test func rotaryEmbeddingScalings() throws {
        let plain = RotaryEmbedding(config: try Self.config("null"), dimensions: 16)
        #expect(plain.theta == 10000 && plain.maxPositions == 64 && plain.scaling == nil)
        let t = plain.tables([0, 3], prefill: true)
        #expect(t.cos.count == 16 && t.cos[0..<8].allSatisfy { $0 == 1 } && t.sin[0..<8].allSatisfy { $0 == 0 })
        #expect(t.cos[8] == cosf(3) && t.sin[15] == sinf(3 * (1 / powf(10000, 14 / 16))))

        // Linear: position p at factor 4 is position p / 4 unscaled.
        let linear = RotaryEmbedding(config: try Self.config(#"{"type": "linear", "factor": 4}"#), dimensions: 16)
        #expect(linear.tables([8, 20], prefill: true) == plain.tables([2, 5], prefill: true))

        // Dynamic: nothing changes up to max_position_embeddings; beyond, θ grows with the call's length on a
        // prefill, with each token's position + 1 after cached tokens.
        let dynamic = RotaryEmbedding(config: try Self.config(#"{"type": "dynamic", "factor": 2}"#), dimensions: 16)
        #expect(dynamic.tables([3, 63], prefill: true) == plain.tables([3, 63], prefill: true))
        #expect(dynamic.tables([3, 100], prefill: true) != plain.tables([3, 100], prefill: true))
        #expect(dynamic.tables([3, 100], prefill: false).cos[0..<8] == plain.tables([3], prefill: false).cos[0..<8])
        #expect(dynamic.tables([100], prefill: false) == dynamic.tables([100], prefill: true))
        let f = dynamic.inverseFrequencies(sequenceLength: 128)
        let theta = Float(10000 * pow(2.0 * 128 / 64 - 1, 16.0 / 14.0))
        #expect(f == (0..<8).map { 1 / powf(theta, Float(2 * $0) / 16) })

        // Rotation: rotate-half with the token's tables.
        var x: [Float] = (0..<16).map { Float($0) }
        let (c, s) = plain.tables([3], prefill: true)
        plain.apply(&x, tokens: 1, cos: c, sin: s) { _ in [0] }
        #expect(x[0] == 0 * c[0] - 8 * s[0] && x[8] == 8 * c[0] + 0 * s[0] && x[7] == 7 * c[7] - 15 * s[7])
    }

    /// The engine takes its rotary embedding and scales from the config (MLA: the rotary part's width).
    @Test func theEngineUsesTheSharedRotaryEmbedding() throws {
        let engine = try Engine(checkpointPath: Fixtures.trainedModel, options: EngineOptions(threads: 1))
        #expect(engine.rotary == RotaryEmbedding(dimensions: 32, theta: 10000, scaling: nil, maxPositions: 512))
        #expect(engine.ropeTables([0, 5, 9], prefill: true) == engine.rotary.tables([0, 5, 9], prefill: true))
        #expect(engine.embedScale == 12 && engine.headScale == 1.25 && engine.residualScale == Float(1.4 / Double(7).squareRoot()))
    }
}
