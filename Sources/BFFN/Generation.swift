import BFFNCore
import BFFNEngine
import BFFNSpeculative

/// The outcome of one `BlockFFNModel.generate` call.
public struct Generation: Sendable {
    /// The prompt's ids, as encoded.
    public var promptIds: [Int]
    /// The generated ids (an end-of-sequence id that stopped generation is the last one).
    public var generatedIds: [Int]
    /// The generated text (cut before the stop string that ended generation); nil without a tokenizer or for ids
    /// beyond it.
    public var text: String?
    /// Why generation stopped.
    public var stopReason: StopReason
    /// Seconds of the prompt's forward call.
    public var prefillSeconds: Double
    /// Generated tokens per second of decode time (the first token comes from the prefill).
    public var decodeTokensPerSecond: Double
    /// Fraction of expert weights read per decoded token (1 for dense FFNs).
    public var expertsReadFraction: Double
    /// What speculative decoding did; nil without a drafter.
    public var speculative: SpeculationSummary?
    /// With `GenerationSettings.logprobs`: each generated id's log-probabilities, in the order of `generatedIds`.
    public var logprobs: [TokenLogprob] = []
    /// What the products ran as, e.g. `auto -> int8 (avx512-vnni)`.
    public var activations: String
    /// This outcome as `bffn generate --json` prints it (docs/json.md, "generate"), `memory` included.
    public var json: JSONValue

    /// What speculative decoding did in one generation.
    public struct SpeculationSummary: Sendable {
        /// The drafter's name (`ngram`, `draft:PATH`, `eagle:PATH`) and the draft shape.
        public var drafter: String, shape: DraftShape
        /// Whether the draft size adapted to measured costs.
        public var adaptive: Bool
        /// Verification steps, and those of them that ran without a draft (adaptive drafting).
        public var steps: Int, plainSteps: Int
        /// Tokens emitted per step (accepted draft tokens plus the one the target adds).
        public var meanAcceptLength: Double
    }
}

extension Generation {
    /// A one-line summary as `bffn generate` prints it on stderr: tokens, stop reason, prefill, decode speed, the
    /// drafter's figures, experts read and what the products ran as.
    public var summaryLine: String {
        var note = ""
        if let s = speculative {
            note = ", \(TextNumber.fixed(s.meanAcceptLength, 2)) tokens per step (\(s.drafter), \(s.shape)\(s.adaptive ? ", adaptive: \(s.plainSteps) of \(s.steps) steps without a draft" : ""))"
        }
        let decode = generatedIds.count > 1
            ? "\(TextNumber.fixed(decodeTokensPerSecond, 1)) tokens/s\(note), experts read \(TextNumber.fixed(expertsReadFraction * 100, 1)) % per token"
            : "no decode steps"
        return "\(generatedIds.count) tokens (stopped: \(stopReason.rawValue)), prefill \(TextNumber.fixed(prefillSeconds, 3)) s, \(decode); activations \(activations)"
    }
}

/// A piece of generated text as `BlockFFNModel.generatePieces(_:settings:onPiece:)` hands it over, with the
/// log-probabilities of the tokens generated since the previous piece (empty without `GenerationSettings.logprobs`).
public struct GeneratedPiece: Sendable {
    /// The text (complete UTF-8; empty only for a last piece that brings log-probabilities alone).
    public var text: String
    /// The log-probabilities of the tokens this piece completes, in order.
    public var logprobs: [TokenLogprob]
}
