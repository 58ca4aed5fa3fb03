import BFFNCore
import BFFNEngine

/// Plain against speculative greedy decoding of the same prompt, measured in one run (`bffn bench
/// --speculative`): plain, speculative with the drafter's whole draft at every step (fixed), and adaptive
/// drafting (`AdaptiveDrafting`), each after the same prompt.
public enum SpeculativeBenchmark {
    /// One decoding run.
    public struct Run: Sendable {
        /// `plain`, `fixed` or `adaptive`.
        public var mode: String
        public var tokensPerSecond: Double
        /// Verification calls, tokens emitted per call, and calls that verified no draft (speculative runs).
        public var steps: Int, meanAcceptLength: Double, plainSteps: Int
        /// Whether the tokens equal plain decoding's (always, for greedy decoding: checked).
        public var identical: Bool
        /// The adaptive run's controller: what it measured and decided (nil for the other modes).
        public var decisions: AdaptiveDrafting.Report? = nil

        public var json: JSONValue {
            .object([("mode", .string(mode)), ("tokens_per_second", .double(tokensPerSecond)), ("steps", .integer(steps)),
                     ("mean_accept_length", .double(meanAcceptLength)), ("plain_steps", .integer(plainSteps)), ("identical", .bool(identical))]
                    + (decisions.map { [("decisions", $0.json)] } ?? []))
        }
    }

    /// Decodes `tokens` tokens after `prompt` three ways on `engine`, `repeats` times in alternation (plain, fixed,
    /// adaptive, plain, ...), and keeps each mode's fastest run: on a shared machine a run's speed varies by
    /// 10-30 %, and alternating with the best of each compares the modes under the same conditions. The adaptive
    /// runs share one controller, as a model's generations do (`BlockFFNModel`, the server): what it measured in
    /// one run carries to the next.
    /// - Throws: the engine's and the drafter's errors.
    public static func run(_ engine: Engine, drafter: Drafter, shape: DraftShape, prompt: [Int], tokens: Int, repeats: Int = 3) throws -> [Run] {
        var best: [String: Run] = [:]
        // Whether every run of a mode (kept or not) gave plain decoding's tokens.
        var identical: [String: Bool] = [:]
        func keep(_ r: Run) {
            identical[r.mode] = identical[r.mode, default: true] && r.identical
            if let b = best[r.mode], b.tokensPerSecond >= r.tokensPerSecond { return }
            best[r.mode] = r
        }
        let controller = AdaptiveDrafting(shape: shape)
        for _ in 0..<max(1, repeats) {
            let plain = try GreedyDecoder.generate(engine, prompt: prompt, maxNewTokens: tokens)
            keep(Run(mode: "plain", tokensPerSecond: plain.tokensPerSecond, steps: max(plain.generatedIds.count - 1, 0), meanAcceptLength: 1,
                     plainSteps: max(plain.generatedIds.count - 1, 0), identical: true))
            for adaptive in [false, true] {
                let r = try SpeculativeDecoder.generate(engine, drafter: drafter, shape: shape, prompt: prompt, options: GenerationOptions(maxNewTokens: tokens),
                                                        adaptive: adaptive ? controller : nil)
                keep(Run(mode: adaptive ? "adaptive" : "fixed", tokensPerSecond: r.tokensPerSecond, steps: r.steps, meanAcceptLength: r.meanAcceptLength,
                         plainSteps: r.plainSteps, identical: r.generatedIds == plain.generatedIds, decisions: r.adaptiveReport))
            }
        }
        for mode in best.keys { best[mode]?.identical = identical[mode] ?? true }
        return ["plain", "fixed", "adaptive"].compactMap { best[$0] }
    }
}
