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

    /// Six threads for the trained model's five heads: a step's scores are split over slot ranges and each head's
    /// value sums over stripes of its dimensions; the logits must still be the bits of one thread (float32 and bf16
    /// caches).
    @Test(arguments: [KVCachePrecision.float32, .bf16])
    func moreThreadsThanHeadsGiveTheSameBitsAsOne(_ cache: KVCachePrecision) throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.trainedModel))
        let reference = try ReferenceOutputs(Fixtures.trainedModel + "/reference.safetensors").inputIds
        let prompt = (0..<96).map { reference[($0 * 5) % reference.count] }
        var o1 = EngineOptions(threads: 1), o6 = EngineOptions(threads: 6)
        o1.kvCache = cache
        o6.kvCache = cache
        let one = try Engine(weights: weights, options: o1), six = try Engine(weights: weights, options: o6)
        var a = try one.forward(prompt), b = try six.forward(prompt)
        for step in 0..<6 {
            let next = a.argmax(at: a.logits.count / weights.architecture.vocabSize - 1)
            a = try one.forward([next])
            b = try six.forward([next])
            #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern), "step \(step)")
        }
    }
}
