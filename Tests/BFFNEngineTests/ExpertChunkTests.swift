import BFFNCheckpoint
import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Testing

/// Sparse experts computed per chunk of a call's tokens (`EngineOptions.expertChunk`): each chunk computes only
/// its own tokens' union, and the logits are the same bits for any chunk size (a token's inactive experts add
/// exact zeros), while the expert-token products counted fall with the chunk.
@Suite("experts per chunk of tokens")
struct ExpertChunkTests {
    @Test(arguments: Fixtures.allModels + [Fixtures.trainedModel])
    func anyChunkGivesTheSameBits(_ folder: String) throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: folder))
        guard weights.architecture.numExperts > 0 else { return }
        let prompt = try ReferenceOutputs(folder + "/reference.safetensors").inputIds
        func run(_ chunk: Int, threads: Int = 1) throws -> ForwardOutput {
            var options = EngineOptions(threads: threads)
            options.expertChunk = chunk
            return try Engine(weights: weights, options: options).forward(prompt)
        }
        let whole = try run(0)
        #expect(whole.expertTokenProducts == whole.expertsComputed.map { $0 * prompt.count })
        for (chunk, threads) in [(1, 1), (3, 2), (8, 1)] {
            let out = try run(chunk, threads: threads)
            #expect(out.logits.map(\.bitPattern) == whole.logits.map(\.bitPattern), "\(folder), chunks of \(chunk)")
            #expect(out.expertsComputed == whole.expertsComputed)
            for (l, products) in out.expertTokenProducts.enumerated() { #expect(products <= whole.expertTokenProducts[l]) }
        }
        // One token per chunk computes exactly the experts each token activates.
        let perToken = try run(1)
        #expect(perToken.expertTokenProducts.reduce(0, +) < whole.expertTokenProducts.reduce(0, +), "\(folder)")
    }
}
