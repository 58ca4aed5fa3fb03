import BFFNCheckpoint
import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Testing

/// One-token steps split their attention heads over the pool (and their products into four parts per thread):
/// the logits must be the same bits on one thread and on two, over a context long enough for the split to run.
@Suite("decode steps on one and two threads")
struct DecodeThreadsTests {
    @Test func twoThreadsGiveTheSameBitsAsOne() throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.trainedModel))
        let reference = try ReferenceOutputs(Fixtures.trainedModel + "/reference.safetensors").inputIds
        var prompt = reference
        while prompt.count < 96 { prompt += reference }
        prompt = Array(prompt.prefix(96))
        let one = try Engine(weights: weights, options: EngineOptions(threads: 1))
        let two = try Engine(weights: weights, options: EngineOptions(threads: 2))
        var a = try one.forward(prompt), b = try two.forward(prompt)
        #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern), "prompt")
        for step in 0..<6 {
            let next = a.argmax(at: a.logits.count / weights.architecture.vocabSize - 1)
            a = try one.forward([next])
            b = try two.forward([next])
            #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern), "step \(step)")
        }
    }
}
