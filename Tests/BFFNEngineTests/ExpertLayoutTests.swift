import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNTestSupport
import Testing

/// Strided expert down weights (block_linear and bmt `[H, E·de]`) copied into one block per expert at load
/// against reading them where they are stored: the same weights element by element, the same logits bit for
/// bit (sparse and dense, one and two threads, a prompt at once and a chunk after it), and the stored tensors
/// no longer among the regions the engine reads.
@Suite("expert down weights: stored strided vs one block per expert")
struct ExpertLayoutTests {
    static let stridedFixtures = [Fixtures.blockLinearReference] + Fixtures.engineModels.filter { $0.contains("blocklinear") || $0.contains("bmt") }

    @Test(arguments: stridedFixtures)
    func theCopyHoldsTheSameWeightsAndGivesTheSameBits(_ folder: String) throws {
        let stored = try ModelWeights(checkpoint: Checkpoint(path: folder), expertDown: .asStored)
        let copied = try ModelWeights(checkpoint: Checkpoint(path: folder), expertDown: .expertMajor)
        let a = stored.architecture
        #expect(a.ffnLayout == .blockLinear || a.ffnLayout == .bmt)
        for l in 0..<a.numLayers {
            for e in 0..<a.numExperts {
                let s = stored.layers[l].experts!.down[e], c = copied.layers[l].experts!.down[e]
                #expect(c.rows == a.hiddenSize && c.cols == a.expertSize && c.type == s.type)
                // One contiguous block per expert; the stored one is a column band of the [H, E·de] matrix.
                #expect(c.rowStrideBytes == a.expertSize * c.type.size)
                #expect(s.rowStrideBytes == a.numExperts * a.expertSize * s.type.size)
                var same = true
                for j in 0..<a.hiddenSize { for i in 0..<a.expertSize where s.element(j, i).bitPattern != c.element(j, i).bitPattern { same = false } }
                #expect(same, "layer \(l) expert \(e)")
            }
            // The stored down tensor is out of the regions the engine reads (and the bench streams over).
            let band = stored.layers[l].experts!.down[0]
            let start = band.base, end = band.base + band.rowStrideBytes * a.hiddenSize
            #expect(!copied.weightRegions.contains { r in r.baseAddress! < end && start < r.baseAddress! + r.count }, "layer \(l)")
        }
        let prompt = try ReferenceOutputs(folder + "/reference.safetensors").inputIds
        for mode in [FFNMode.sparse, .dense] {
            let reference = try Engine(weights: stored, options: EngineOptions(ffnMode: mode)).forward(prompt).logits
            for threads in [1, 2] {
                let engine = try Engine(weights: copied, options: EngineOptions(threads: threads, ffnMode: mode))
                let whole = try engine.forward(prompt).logits.map(\.bitPattern) == reference.map(\.bitPattern)
                #expect(whole, "\(mode), \(threads) threads")
                // A chunk after a cached prefix: the multi-token expert path over the copy (dynamic RoPE's angles
                // depend on the sequence length by definition, so only there a split prompt differs).
                guard !folder.contains("dynamic") else { continue }
                engine.truncate(to: prompt.count / 2)
                let tail = try engine.forward(Array(prompt[(prompt.count / 2)...])).logits
                let split = tail.map(\.bitPattern) == reference[(prompt.count / 2 * a.vocabSize)...].map(\.bitPattern)
                #expect(split, "\(mode), \(threads) threads, after a prefix")
            }
        }
    }
}
