import BFFNCore
import BFFNEngine
import Foundation
import Testing

/// A decoder of fixed pieces per id, for the stop-string matcher.
struct PieceDecoder: TokenTextDecoder {
    var pieces: [String]
    mutating func push(_ id: Int) throws -> String { pieces[id] }
    mutating func finish() throws -> String { "" }
}

@Suite("repeat penalty, min-p and stop strings")
struct SamplingControlTests {
    /// llama.cpp's rule on hand-computed values: positive logits divided by P, others multiplied, each distinct id
    /// of the window once, the window the last N ids.
    @Test func repeatPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        let logits: [Float] = [2, -1, 0.5, 3, -2]
        let sampler = TokenSampler(SamplingOptions(repeatPenalty: 2))
        // Id 1 twice in the history is still penalised once.
        #expect(sampler.penalised(logits[...], history: [0, 1, 1, 4]) == [1, -2, 0.5, 3, -4])
        // The last 2 ids only: 0 is outside the window.
        let window = TokenSampler(SamplingOptions(repeatPenalty: 2, repeatLastN: 2))
        #expect(window.penalised(logits[...], history: [0, 1, 4]) == [2, -2, 0.5, 3, -4])
        // -1: the whole sequence; 0 and P = 1: no change.
        let all = TokenSampler(SamplingOptions(repeatPenalty: 2, repeatLastN: -1))
        #expect(all.penalised(logits[...], history: [0] + [Int](repeating: 4, count: 100)) == [1, -1, 0.5, 3, -4])
        #expect(TokenSampler(SamplingOptions(repeatPenalty: 2, repeatLastN: 0)).penalised(logits[...], history: [0]) == logits)
        #expect(TokenSampler(SamplingOptions(repeatPenalty: 1)).penalised(logits[...], history: [0]) == logits)
    }

    /// Values a fuzz run sent through bffn serve: a penalty that rounds to 0 as a Float and a subnormal temperature
    /// are refused by the options check; a row the sampler cannot weigh (infinite logits) falls back to the argmax
    /// instead of trapping on an empty distribution.
    @Test func extremeSamplingValuesAreRefusedOrFallBackToTheArgmax() {
        #expect(throws: BFFNError.self) { try GenerationOptions(maxNewTokens: 1, sampling: SamplingOptions(repeatPenalty: 5e-324)).check(prompt: [1]) }
        #expect(throws: BFFNError.self) { try GenerationOptions(maxNewTokens: 1, sampling: SamplingOptions(temperature: 5e-324)).check(prompt: [1]) }
        #expect(throws: BFFNError.self) { try GenerationOptions(maxNewTokens: 1, sampling: SamplingOptions(repeatPenalty: 1e300)).check(prompt: [1]) }
        let infinite: [Float] = [1, .infinity, 2, .infinity]
        var sampler = TokenSampler(SamplingOptions(temperature: 1, seed: 3, minP: 0.5))
        #expect(sampler.distribution(infinite[...]).ids == [1])
        #expect(sampler.next(infinite[...]) == 1)
        let nan: [Float] = [.nan, .nan]
        #expect(sampler.next(nan[...]) == 0)
    }

    /// Greedy decoding with a penalty is the argmax of the penalised logits; sampling's distribution is the
    /// softmax of them.
    @Test func penaltyMovesTheArgmaxAndTheDistribution() {
        let logits: [Float] = [3, 2.5, 1]
        var greedy = TokenSampler(SamplingOptions(repeatPenalty: 1.5))
        #expect(greedy.next(logits[...], history: []) == 0)
        #expect(greedy.next(logits[...], history: [0]) == 1)  // 3 / 1.5 = 2 < 2.5
        #expect(greedy.distribution(logits[...], history: [0]).ids == [1])
        let sampled = TokenSampler(SamplingOptions(temperature: 1, repeatPenalty: 1.5)).distribution(logits[...], history: [0])
        let w = [2.0, 2.5, 1].map { exp($0) }, z = w.reduce(0, +)
        #expect(sampled.ids == [0, 1, 2])
        for (p, q) in zip(sampled.probabilities, w.map { $0 / z }) { #expect(abs(p - q) < 1e-9) }
    }

    /// Min-p keeps tokens at least min_p times as likely as the top one, after temperature, top-k and top-p.
    @Test func minPKeepsTokensNearTheTopProbability() {
        let probabilities = [0.5, 0.3, 0.15, 0.05]
        let logits = probabilities.map { Float(log($0)) }
        func kept(_ o: SamplingOptions) -> TokenDistribution { TokenSampler(o).distribution(logits[...]) }
        let quarter = kept(SamplingOptions(temperature: 1, minP: 0.25))  // threshold 0.125
        #expect(quarter.ids == [0, 1, 2])
        for (p, q) in zip(quarter.probabilities, [0.5, 0.3, 0.15].map { $0 / 0.95 }) { #expect(abs(p - q) < 1e-6) }
        let half = kept(SamplingOptions(temperature: 1, minP: 0.5))  // threshold 0.25
        #expect(half.ids == [0, 1] && abs(half.probabilities[0] - 0.625) < 1e-6)
        // Temperature 2 flattens first: weights ∝ sqrt(p), so 0.15 (0.387) passes 0.5 x sqrt(0.5) = 0.354.
        #expect(kept(SamplingOptions(temperature: 2, minP: 0.5)).ids == [0, 1, 2])
        // After top-p 0.9 (0.5 + 0.3 + 0.15) the threshold is still relative to the top token.
        #expect(kept(SamplingOptions(temperature: 1, topP: 0.9, minP: 0.25)).ids == [0, 1, 2])
        #expect(kept(SamplingOptions(temperature: 1, topK: 1, minP: 0.01)).ids == [0])
        #expect(kept(SamplingOptions(temperature: 1)).ids == [0, 1, 2, 3])
    }

    /// A stop string cuts the text before it; what could begin one is held back until it cannot.
    @Test func stopStringsCutTheTextAndHoldBackPrefixes() throws {
        let decoder = PieceDecoder(pieces: ["Hello", " wor", "ld", "k", "!"])
        var m = StopStringMatcher(strings: ["world", "\n\n"], decoder: decoder)
        #expect(try m.push(0) == "Hello")
        #expect(try m.push(1) == " ")       // "wor" may begin "world"
        #expect(try m.push(2) == "" && m.stopped && m.text == "Hello ")
        #expect(try m.push(4) == "" && m.text == "Hello ")
        var n = StopStringMatcher(strings: ["world"], decoder: decoder)
        #expect(try n.push(1) == " ")
        #expect(try n.push(3) == "work" && !n.stopped)  // "work" is no prefix of "world": released
        #expect(try n.push(1) == " ")
        #expect(try n.finish() == "wor" && n.text == " work wor")
        // Options with stop strings need a decoder.
        #expect(throws: BFFNError.self) { try GenerationOptions(maxNewTokens: 1, stopStrings: ["x"]).stopStringMatcher() }
        #expect(try GenerationOptions(maxNewTokens: 1).stopStringMatcher() == nil)
    }
}
