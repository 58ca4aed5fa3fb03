import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Testing

/// The figures `bffn bench` judges resident memory by: the model's weight bytes against the bytes of the
/// checkpoint's tensors, and the KV cache's size against what its tokens need.
@Suite("weight bytes and KV cache bytes")
struct ResidentMemoryTests {
    @Test(arguments: Fixtures.allModels)
    func weightBytesAreTheCheckpointsTensorBytes(_ folder: String) throws {
        let checkpoint = try Checkpoint(path: folder)
        // Every stored tensor is a weight the forward pass reads, once (tied heads are stored once).
        let stored = checkpoint.tensors.reduce(0) { $0 + Int($1.byteCount) }
        for layout in [ModelWeights.ExpertDownLayout.asStored, .expertMajor] {
            let w = try ModelWeights(checkpoint: checkpoint, expertDown: layout)
            #expect(w.weightBytes == stored, "\(layout)")
        }
    }

    @Test func theKVCacheHoldsAtLeastItsTokensAndKeepsItsCapacityAcrossReset() throws {
        let engine = try Engine(checkpointPath: Fixtures.blockReference)
        #expect(engine.kvCacheBytes == 0)
        let a = engine.weights.architecture
        let m = try #require(a.mla)
        let heads = try #require(a.numAttentionHeads)
        // Expanded MLA heads: keys of nope + rope dims and values of v dims, float32, per layer.
        let perToken = a.numLayers * heads * ((m.qkNopeHeadDim ?? 0) + m.qkRopeHeadDim + (m.vHeadDim ?? 0)) * 4
        _ = try engine.forward(Array(1...9))
        let afterNine = engine.kvCacheBytes
        #expect(afterNine >= 9 * perToken && afterNine <= 2 * 9 * perToken + 4096)
        engine.reset()
        #expect(engine.kvCacheBytes == afterNine)
    }
}
