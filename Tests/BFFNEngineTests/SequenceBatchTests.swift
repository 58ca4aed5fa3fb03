import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Testing

/// Sequences decoded together in shared forward calls (each a chain of its own in one cache) must give exactly the
/// ids each gives when decoded alone: greedy, seeded sampling and the repeat penalty; joining mid-way; prompts read in
/// chunks; finished sequences dropped from the cache while others go on.
@Suite("several sequences decoded together")
struct SequenceBatchTests {
    struct Case {
        var prompt: [Int]
        var options: GenerationOptions
        /// The step before which the sequence is added.
        var joins: Int
    }

    static func cases(vocabulary V: Int) -> [Case] {
        func prompt(_ n: Int, _ salt: Int) -> [Int] { (0..<n).map { ($0 * 7919 + salt * 104_729 + 11) % V } }
        var penalised = GenerationOptions(maxNewTokens: 9)
        penalised.sampling = SamplingOptions(repeatPenalty: 1.3)
        return [
            Case(prompt: prompt(13, 1), options: GenerationOptions(maxNewTokens: 12), joins: 0),
            Case(prompt: prompt(1, 2), options: GenerationOptions(maxNewTokens: 5, sampling: SamplingOptions(temperature: 0.9, topP: 0.9, seed: 7)), joins: 0),
            Case(prompt: prompt(30, 3), options: penalised, joins: 2),
            Case(prompt: prompt(7, 4), options: GenerationOptions(maxNewTokens: 0), joins: 3),
            Case(prompt: prompt(4, 5), options: GenerationOptions(maxNewTokens: 16, sampling: SamplingOptions(temperature: 1.2, seed: 99)), joins: 6),
        ]
    }

    @Test(arguments: [Fixtures.trainedModel] + Fixtures.engineModels)
    func batchedSequencesGiveTheirSoloIds(model: String) throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: model))
        var cases = Self.cases(vocabulary: weights.architecture.vocabSize)
        let rotary = try Engine(weights: weights).rotary
        if rotary.scaling?.type == "dynamic" {
            // Dynamic NTK scaling depends on a call's length beyond the context: a sequence that could pass it is
            // refused, and the others are held within it.
            let limit = rotary.maxPositions
            #expect(throws: BFFNError.self) { try SequenceBatch(engine: try Engine(weights: weights)).add(prompt: [1, 2], options: GenerationOptions(maxNewTokens: limit)) }
            for i in cases.indices {
                cases[i].prompt = Array(cases[i].prompt.prefix(limit / 2))
                cases[i].options.contextLimit = limit
            }
        }
        let alone = try Engine(weights: weights)
        let solo = try cases.map { try GreedyDecoder.generate(alone, prompt: $0.prompt, options: $0.options) }
        // Chunks of 5 prompt ids a call, so the 13- and 30-id prompts take several calls beside running sequences.
        let batch = SequenceBatch(engine: try Engine(weights: weights), prefillChunk: 5)
        var results: [Int: GenerationResult] = [:], handles: [SequenceBatch.Handle: Int] = [:]
        var step = 0, streamed: [Int: [Int]] = [:]
        while results.count < cases.count {
            for (i, c) in cases.enumerated() where c.joins == step {
                handles[try batch.add(prompt: c.prompt, options: c.options) { streamed[i, default: []].append($0) }] = i
            }
            for (handle, outcome) in try batch.step() { results[handles[handle]!] = try outcome.get() }
            step += 1
            try #require(step < 200, "the batch never finished")
        }
        for (i, s) in solo.enumerated() {
            #expect(results[i]?.generatedIds == s.generatedIds, "sequence \(i)")
            #expect(results[i]?.stopReason == s.stopReason, "sequence \(i)")
            #expect(streamed[i, default: []] == s.generatedIds, "sequence \(i)")
        }
        #expect(solo.contains { $0.generatedIds.count > 8 })
        #expect(batch.count == 0 && batch.engine.length == 0)
    }

    /// `retain` keeps slots with their bits: continuing a kept chain gives the logits of the chain computed alone.
    @Test func retainedSlotsKeepTheirBits() throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.trainedModel))
        let engine = try Engine(weights: weights)
        // Two chains interleaved: a = 5, 9, 14 at slots 0, 2, 3; b = 8, 3 at slots 1, 4.
        _ = try engine.forward([5, 8, 9, 14, 3], parents: [-1, -1, 0, 2, 1])
        try engine.retain(slots: [0, 2, 3])
        #expect(engine.length == 3 && engine.slotParent == [-1, 0, 1] && engine.slotPosition == [0, 1, 2])
        let continued = try engine.forward([21]).logits
        let fresh = try Engine(weights: weights)
        let alone = try fresh.forward([5, 9, 14, 21]).logits(at: 3)
        #expect(continued.map(\.bitPattern) == alone.map(\.bitPattern))
        #expect(throws: BFFNError.self) { try engine.retain(slots: [1, 0]) }
        #expect(throws: BFFNError.self) { try engine.retain(slots: [1, 2]) }   // slot 1's parent 0 is dropped
        #expect(throws: BFFNError.self) { try engine.retain(slots: [0, 9]) }
        // Expert groups must cover the call in order.
        #expect(throws: BFFNError.self) { try engine.forward([1, 2], parents: [-1, -1], expertGroups: [0..<1]) }
        #expect(throws: BFFNError.self) { try engine.forward([1, 2], parents: [-1, -1], expertGroups: [1..<2, 0..<1]) }
    }
}
