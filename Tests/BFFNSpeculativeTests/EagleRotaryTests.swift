import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNSpeculative
import BFFNTestSupport
import Testing

/// The EAGLE head rotates with the same RoPE as the engine, `rope_scaling` included (it used to ignore it).
@Suite("EAGLE rotary embedding")
struct EagleRotaryTests {
    /// The trained model with `rope_scaling` set to `scaling` (JSON text), its weights linked, not copied.
    static func target(_ dir: TemporaryDirectory, _ name: String, scaling: String) throws -> Engine {
        let config = String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/config.json"), as: UTF8.self)
        #expect(config.contains("\"rope_scaling\": null"))
        let folder = dir.makeFolder(name)
        try dir.write(name + "/config.json", text: config.replacing("\"rope_scaling\": null", with: "\"rope_scaling\": \(scaling)"))
        #expect(symlink(Fixtures.trainedModel + "/model.safetensors", folder + "/model.safetensors") == 0)
        return try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
    }

    static let positions = [0, 1, 7, 100, 511, 600, 1000]

    @Test(arguments: [#"{"type": "linear", "factor": 4.0}"#, #"{"type": "dynamic", "factor": 2.0}"#])
    func theHeadUsesTheTargetsScaling(_ scaling: String) throws {
        let dir = TemporaryDirectory()
        let head = try EagleHead(checkpoint: Checkpoint(path: Fixtures.trainedEagle))
        #expect(head.config.ropeScaling == nil && head.config.maxPositionEmbeddings == 512)
        let plainTarget = try Self.target(dir, "plain", scaling: "null")
        let scaledTarget = try Self.target(dir, "scaled", scaling: scaling)
        let plain = try EagleDrafter(head: head, vocabulary: .identity(8000), target: plainTarget.weights, threads: 2)
        let scaled = try EagleDrafter(head: head, vocabulary: .identity(8000), target: scaledTarget.weights, threads: 2)
        // The engine's scaling, at the head's width: the same embedding the engine builds from the same config.
        let factor = try #require(scaledTarget.rotary.scaling).factor
        #expect(scaled.rotary.scaling == scaledTarget.rotary.scaling && plain.rotary.scaling == nil)
        #expect(scaled.rotary == RotaryEmbedding(config: scaledTarget.weights.config, dimensions: 64))
        #expect(scaledTarget.rotary == RotaryEmbedding(config: scaledTarget.weights.config, dimensions: 32))
        for prefill in [true, false] {
            let mine = scaled.rotary.tables(Self.positions, prefill: prefill)
            let unscaled = plain.rotary.tables(Self.positions, prefill: prefill)
            let engine = scaledTarget.rotary.tables(Self.positions, prefill: prefill)
            #expect(mine.cos.count == Self.positions.count * 32 && engine.cos.count == Self.positions.count * 16)
            if scaledTarget.rotary.scaling?.type == "linear" {
                // Frequency 2j of a 64-wide head is frequency j of the engine's 32-wide rotary part: the same bits.
                for t in Self.positions.indices {
                    for j in 0..<16 {
                        #expect(mine.cos[t * 32 + 2 * j].bitPattern == engine.cos[t * 16 + j].bitPattern)
                        #expect(mine.sin[t * 32 + 2 * j].bitPattern == engine.sin[t * 16 + j].bitPattern)
                    }
                }
                // Linear scaling divides the position: position 100 scaled by 4 is unscaled position 25.
                let quarter = plain.rotary.tables([Int(100 / factor)], prefill: prefill)
                #expect(Array(mine.cos[(3 * 32)..<(4 * 32)]) == quarter.cos && Array(mine.sin[(3 * 32)..<(4 * 32)]) == quarter.sin)
                #expect(mine.cos[32..<64] != unscaled.cos[32..<64])
            } else {
                // Dynamic NTK scaling changes nothing within max_position_embeddings (512) and everything beyond.
                let within = 0..<(5 * 32), beyond = (5 * 32)..<(7 * 32)
                #expect(prefill ? mine.cos != unscaled.cos : mine.cos[within] == unscaled.cos[within])
                #expect(mine.cos[beyond] != unscaled.cos[beyond] && mine.sin[beyond] != unscaled.sin[beyond])
            }
        }
        // The drafts follow: after the same prompt the root's draft distribution differs under linear scaling (every
        // position moves), and stays the same under dynamic scaling within the model's context.
        var roots: [[Float]] = []
        for (drafter, engine) in [(plain, plainTarget), (scaled, scaledTarget)] {
            engine.options.captureFeatures = true
            let prompt = [1, 450, 1200, 77, 9, 300, 31, 5, 800, 12]
            let out = try engine.forward(prompt)
            try drafter.observe(features: out.features, nextTokens: Array(prompt.dropFirst()) + [out.argmax(at: prompt.count - 1)])
            _ = try drafter.draft(context: [], shape: .eagle)
            roots.append(drafter.lastRootLogProbabilities)
        }
        #expect(roots[0].count == 8000)
        if scaledTarget.rotary.scaling?.type == "linear" { #expect(roots[0] != roots[1]) }
    }
}
