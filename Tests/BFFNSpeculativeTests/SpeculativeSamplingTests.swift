import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import Foundation
import Testing

/// Two-sample chi-square test on histograms of equal sample size: statistic, degrees of freedom and the upper
/// tail probability (Wilson-Hilferty's cube-root normal approximation of the chi-square distribution). Bins with
/// fewer than 10 counts in both samples together are pooled into one.
func chiSquareTwoSample(_ a: [Int], _ b: [Int]) -> (statistic: Double, degreesOfFreedom: Int, p: Double) {
    var bins: [(Double, Double)] = [], poolA = 0.0, poolB = 0.0
    for (x, y) in zip(a, b) {
        if x + y >= 10 { bins.append((Double(x), Double(y))) } else { poolA += Double(x); poolB += Double(y) }
    }
    if poolA + poolB > 0 { bins.append((poolA, poolB)) }
    let statistic = bins.reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / ($1.0 + $1.1) }
    let k = Double(bins.count - 1)
    let z = (pow(statistic / k, 1.0 / 3) - (1 - 2 / (9 * k))) / (2 / (9 * k)).squareRoot()
    return (statistic, bins.count - 1, 0.5 * erfc(z / 2.0.squareRoot()))
}

/// `runs` generations of 3 tokens after `prompt`, plainly (seed i) and speculatively (seed i + runs), with
/// `sampling`: the histograms over the vocabulary of the third token (which went through accept/reject decisions),
/// and the speculative runs' drafted and accepted token counts.
func thirdTokenHistograms(target: Engine, drafter: Drafter, shape: DraftShape, prompt: [Int], runs: Int,
                          sampling: SamplingOptions) throws -> (plain: [Int], speculative: [Int], drafted: Int, accepted: Int) {
    let V = target.weights.architecture.vocabSize
    var plain = [Int](repeating: 0, count: V), speculative = [Int](repeating: 0, count: V)
    var drafted = 0, accepted = 0
    for seed in 0..<runs {
        var s1 = sampling, s2 = sampling
        s1.seed = UInt64(seed)
        s2.seed = UInt64(seed + runs)
        plain[try GreedyDecoder.generate(target, prompt: prompt, options: GenerationOptions(maxNewTokens: 3, sampling: s1)).generatedIds[2]] += 1
        let s = try SpeculativeDecoder.generate(target, drafter: drafter, shape: shape, prompt: prompt,
                                                options: GenerationOptions(maxNewTokens: 3, sampling: s2))
        speculative[s.generatedIds[2]] += 1
        drafted += s.draftedTokens
        accepted += s.acceptedTokens
    }
    return (plain, speculative, drafted, accepted)
}

@Suite("speculative sampling keeps the target's distribution")
struct SpeculativeSamplingTests {
    /// 20 000 independent generations of 3 tokens each, plain sampling against speculative sampling with a draft
    /// model (the model itself, drafting greedy chains of 2), from the same prompt: the histograms of the third
    /// token (which went through accept/reject decisions) agree by a chi-square test at p > 0.001, while the
    /// drafts were both accepted and rejected often.
    @Test func histogramsAgree() throws {
        let folder = Fixtures.blockLinearReference
        let target = try Engine(checkpointPath: folder, options: EngineOptions(threads: 1))
        let draftEngine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 1))
        let V = target.weights.architecture.vocabSize
        let drafter = try ModelDrafter(engine: draftEngine, vocabularySize: V, name: "self")
        let shape = try DraftShape.chain(2)
        let prompt = [5, 17, 42, 8]
        let runs = Int(ProcessInfo.processInfo.environment["BFFN_SAMPLING_RUNS"] ?? "") ?? 20_000
        let (plain, speculative, drafted, accepted) = try thirdTokenHistograms(target: target, drafter: drafter, shape: shape, prompt: prompt, runs: runs,
                                                                               sampling: SamplingOptions(temperature: 0.25, topK: 12))
        let test = chiSquareTwoSample(plain, speculative)
        #expect(test.p > 0.001, "chi-square \(test.statistic) on \(test.degreesOfFreedom) degrees of freedom, p = \(test.p)")
        #expect(test.degreesOfFreedom >= 10)
        // Both branches of the rule ran many times.
        #expect(accepted > runs / 10 && drafted - accepted > runs / 10, "accepted \(accepted) of \(drafted)")
        // The same seed gives the same tokens.
        let o = GenerationOptions(maxNewTokens: 8, sampling: SamplingOptions(temperature: 1, topP: 0.9, seed: 7))
        #expect(try SpeculativeDecoder.generate(target, drafter: drafter, shape: shape, prompt: prompt, options: o).generatedIds
                == SpeculativeDecoder.generate(target, drafter: drafter, shape: shape, prompt: prompt, options: o).generatedIds)
        print("speculative sampling: chi-square \(test.statistic), df \(test.degreesOfFreedom), p \(test.p); drafts accepted \(accepted) of \(drafted)")
    }

    /// The chi-square helper rejects clearly different histograms (so the test above can fail).
    @Test func chiSquareRejectsDifferentHistograms() {
        let a = (0..<20).map { 1000 + $0 * 10 }, b = (0..<20).map { 1000 + (19 - $0) * 10 }
        #expect(chiSquareTwoSample(a, b).p < 0.001)
        #expect(chiSquareTwoSample(a, a).p > 0.5)
    }

    /// Sampling distributions: top-k keeps k ids, top-p the shortest most-likely prefix, greedy the argmax.
    @Test func distributionsFollowTheOptions() {
        let logits: [Float] = [1, 3, 2, 0, 3]
        let greedy = TokenSampler(.greedy).distribution(logits[...])
        #expect(greedy.ids == [1] && greedy.probabilities == [1])
        let top2 = TokenSampler(SamplingOptions(temperature: 1, topK: 2)).distribution(logits[...])
        #expect(top2.ids == [1, 4] && abs(top2.probabilities[0] - 0.5) < 1e-12)
        let all = TokenSampler(SamplingOptions(temperature: 1)).distribution(logits[...])
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        #expect(all.ids == [0, 1, 2, 3, 4] && abs(all.probabilities[2] - exp(2) / z) < 1e-12)
        let nucleus = TokenSampler(SamplingOptions(temperature: 1, topP: 0.8)).distribution(logits[...])
        #expect(nucleus.ids == [1, 2, 4])
    }
}
