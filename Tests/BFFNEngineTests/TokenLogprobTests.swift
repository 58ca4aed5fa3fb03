import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Foundation
import Testing

/// Token log-probabilities: the log-softmax of the logits (after the repeat penalty, at temperature 1), checked against
/// PyTorch's logits of the trained model and against hand-computed rows; the same numbers from plain and batched
/// decoding.
@Suite("token log-probabilities")
struct TokenLogprobTests {
    /// The first generated token's log-probabilities against the log-softmax of the published code's logits.
    @Test func matchThePyTorchReference() throws {
        let reference = try ReferenceOutputs(Fixtures.trainedModel + "/reference.safetensors")
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.trainedModel))
        let V = weights.architecture.vocabSize
        var options = GenerationOptions(maxNewTokens: 1)
        options.logprobs = 5
        // The file holds three prompts of 32 ids; the last one's last row predicts its first generated token.
        let prompt = Array(reference.inputIds.suffix(32))
        #expect(reference.inputIds.count == 96 && reference.logits.count == 96 * V)
        let r = try GreedyDecoder.generate(try Engine(weights: weights), prompt: prompt, options: options)
        let entry = try #require(r.logprobs.first)
        #expect(r.logprobs.count == 1 && entry.id == r.generatedIds[0] && entry.top.count == 5)
        // log_softmax of PyTorch's last row, in double precision.
        let row = reference.logits[(reference.logits.count - V)...].map(Double.init)
        let m = row.max()!, logSum = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
        let expected = row.map { $0 - logSum }
        let order = expected.indices.sorted { expected[$0] > expected[$1] || (expected[$0] == expected[$1] && $0 < $1) }
        #expect(entry.top.map(\.id) == Array(order.prefix(5)))
        #expect(abs(entry.logprob - expected[entry.id]) < 2e-3, "\(entry.logprob) vs \(expected[entry.id])")
        for c in entry.top { #expect(abs(c.logprob - expected[c.id]) < 2e-3) }
        #expect(entry.top[0].id == entry.id)
    }

    /// A hand-computed row: logits [2, 0, -1, ln 3] with the repeat penalty 2 on id 0 (2 -> 1) and id 2 (-1 -> -2).
    @Test func penaltyThenLogSoftmax() {
        let logits: [Float] = [2, 0, -1, Float(Foundation.log(3.0))]
        let e = TokenLogprob(id: 3, logits: logits[...], sampling: SamplingOptions(repeatPenalty: 2), history: [0, 2, 2], top: 2)
        let z = Foundation.exp(1.0) + 1 + Foundation.exp(-2.0) + 3
        #expect(abs(e.logprob - Foundation.log(3 / z)) < 1e-6)
        #expect(e.top.map(\.id) == [3, 0])
        #expect(abs(e.top[1].logprob - (1 - Foundation.log(z))) < 1e-6)
        // Ties keep the lower id first; the chosen id need not be among the top.
        let flat = TokenLogprob(id: 1, logits: [Float](repeating: 0.5, count: 4)[...], sampling: .greedy, history: [], top: 3)
        #expect(flat.top.map(\.id) == [0, 1, 2] && abs(flat.logprob - Foundation.log(0.25)) < 1e-9)
        // No alternatives asked (chat's logprobs: true alone): the chosen token's value only (this trapped once).
        let none = TokenLogprob(id: 2, logits: logits[...], sampling: .greedy, history: [], top: 0)
        #expect(none.top.isEmpty && none.logprob < 0)
        #expect(topPositions([3, 1, 2], count: 0).isEmpty && topPositions([3, 1, 2], count: -1).isEmpty)
    }

    /// Batched sequences report exactly the log-probabilities they report alone.
    @Test func batchedSequencesReportTheirSoloLogprobs() throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.trainedModel))
        var options = GenerationOptions(maxNewTokens: 10)
        options.logprobs = 3
        options.sampling = SamplingOptions(temperature: 0.7, seed: 4, repeatPenalty: 1.2)
        let prompts = [[1, 5, 9, 200], [1, 77], [1, 300, 301, 302, 303, 304]]
        let alone = try prompts.map { try GreedyDecoder.generate(try Engine(weights: weights), prompt: $0, options: options).logprobs }
        let batch = SequenceBatch(engine: try Engine(weights: weights), prefillChunk: 3)
        var handles: [SequenceBatch.Handle: Int] = [:], together: [Int: [TokenLogprob]] = [:]
        for (i, p) in prompts.enumerated() { handles[try batch.add(prompt: p, options: options)] = i }
        while batch.count > 0 { for (h, r) in try batch.step() { together[handles[h]!] = try r.get().logprobs } }
        #expect(prompts.indices.map { together[$0]! } == alone)
        #expect(alone.allSatisfy { $0.count == 10 && $0.allSatisfy { $0.logprob <= 0 && $0.top.count == 3 } })
    }
}
