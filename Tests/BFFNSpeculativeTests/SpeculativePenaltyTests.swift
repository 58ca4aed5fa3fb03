import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import Foundation
import Testing

@Suite("speculative decoding with a repeat penalty and stop strings")
struct SpeculativePenaltyTests {
    /// Under greedy decoding with a repeat penalty, speculative output (prompt lookup and a draft model, chains and
    /// trees, fixed and adaptive) equals plain decoding with the same options: each node's argmax is taken after
    /// the penalty of the tokens before it, accepted draft tokens included. The penalty changes the output (so the
    /// comparison can fail), and a draft model that ignores it is still corrected.
    @Test(arguments: [Fixtures.blockLinearReference, Fixtures.trainedModel])
    func greedyWithPenaltyEqualsPlainDecoding(_ folder: String) throws {
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let V = engine.weights.architecture.vocabSize
        let selfDraft = try ModelDrafter(engine: Engine(checkpointPath: folder), vocabularySize: V, name: "self")
        var changed = false
        for prompt in [repetitivePrompt(vocabulary: V), (0..<10).map { ($0 * 11 + 2) % V }] {
            let options = GenerationOptions(maxNewTokens: 24, sampling: SamplingOptions(repeatPenalty: 1.3))
            let expected = try GreedyDecoder.generate(engine, prompt: prompt, options: options).generatedIds
            let unpenalised = try plainGreedy(engine, prompt, 24)
            changed = changed || expected != unpenalised
            for shape in [try DraftShape.chain(5), try DraftShape.tree(width: 3, depth: 4)] {
                let ngram = try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: shape, prompt: prompt, options: options)
                #expect(ngram.generatedIds == expected, "ngram \(shape)")
                let drafted = try SpeculativeDecoder.generate(engine, drafter: selfDraft, shape: shape, prompt: prompt, options: options)
                #expect(drafted.generatedIds == expected, "self draft \(shape)")
                let adaptive = try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: shape, prompt: prompt, options: options,
                                                               adaptive: AdaptiveDrafting(shape: shape))
                #expect(adaptive.generatedIds == expected, "adaptive ngram \(shape)")
            }
            // Sampling that keeps one token (top-k 1) goes through the accept/resample rule and must give the same.
            var one = options
            one.sampling = SamplingOptions(temperature: 0.8, topK: 1, seed: 3, repeatPenalty: 1.3)
            for shape in [try DraftShape.chain(5), try DraftShape.tree(width: 3, depth: 4)] {
                #expect(try SpeculativeDecoder.generate(engine, drafter: selfDraft, shape: shape, prompt: prompt, options: one).generatedIds == expected,
                        "self draft, sampled, \(shape)")
                #expect(try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: shape, prompt: prompt, options: one).generatedIds == expected,
                        "ngram, sampled, \(shape)")
            }
            #expect(try GreedyDecoder.generate(engine, prompt: prompt, options: one).generatedIds == expected)
        }
        #expect(changed, "the repeat penalty changed no output")
    }

    /// Sampling with a repeat penalty: plain and speculative sampling (the model drafting greedy chains for itself,
    /// without the penalty) give the same histogram of the third token by a chi-square test.
    @Test func sampledWithPenaltyKeepsTheDistribution() throws {
        let folder = Fixtures.blockLinearReference
        let target = try Engine(checkpointPath: folder, options: EngineOptions(threads: 1))
        let V = target.weights.architecture.vocabSize
        let drafter = try ModelDrafter(engine: Engine(checkpointPath: folder, options: EngineOptions(threads: 1)), vocabularySize: V, name: "self")
        let prompt = [5, 17, 42, 8]
        let runs = Int(ProcessInfo.processInfo.environment["BFFN_SAMPLING_RUNS"] ?? "") ?? 4_000
        let (plain, speculative, drafted, accepted) = try thirdTokenHistograms(target: target, drafter: drafter, shape: .chain(2), prompt: prompt, runs: runs,
                                                                               sampling: SamplingOptions(temperature: 1, topK: 12, repeatPenalty: 3, minP: 0.02))
        let test = chiSquareTwoSample(plain, speculative)
        #expect(test.p > 0.001, "chi-square \(test.statistic) on \(test.degreesOfFreedom) degrees of freedom, p = \(test.p)")
        #expect(accepted > runs / 20 && drafted - accepted > runs / 20, "accepted \(accepted) of \(drafted)")
    }

    /// A stop string ends plain and speculative decoding at the same token, with the text cut before it.
    @Test func stopStringsEndBothDecoders() throws {
        let engine = try Engine(checkpointPath: Fixtures.blockLinearReference, options: EngineOptions(threads: 2))
        let prompt = repetitivePrompt(vocabulary: engine.weights.architecture.vocabSize)
        let free = try plainGreedy(engine, prompt, 12)
        // Each id decodes to "<id>;"; stop at the text of the fifth generated id.
        struct IdText: TokenTextDecoder {
            mutating func push(_ id: Int) throws -> String { "<\(id)>;" }
            mutating func finish() throws -> String { "" }
        }
        let stop = "<\(free[4])>"
        let cut = free.firstIndex(of: free[4])!
        let options = GenerationOptions(maxNewTokens: 12, stopStrings: [stop], textDecoder: { IdText() })
        let plain = try GreedyDecoder.generate(engine, prompt: prompt, options: options)
        #expect(plain.generatedIds == Array(free.prefix(cut + 1)) && plain.stopReason == .stopString)
        #expect(plain.text == free.prefix(cut).map { "<\($0)>;" }.joined())
        let spec = try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: .chain(4), prompt: prompt, options: options)
        #expect(spec.generatedIds == plain.generatedIds && spec.stopReason == .stopString && spec.text == plain.text)
    }
}
