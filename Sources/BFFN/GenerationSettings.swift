import BFFNEngine
import BFFNTokenizer

/// What a generation starts from.
public enum Prompt: Sendable, Equatable {
    /// Text, encoded with the model's tokenizer (bos added as tokenizer_config.json says).
    case text(String)
    /// Token ids as given (no tokenizer needed).
    case ids([Int])
    /// A conversation, written with the model's chat template when it has one, else in the published BlockFFN
    /// format (system text first, then `<用户>{user}<AI>{assistant}` per turn, ending with `<AI>`): `ChatRendering`.
    case chat([ChatMessage])
}

/// How tokens are chosen and when generation stops: the options of `bffn generate`, with the same defaults.
public struct GenerationSettings: Sendable, Equatable {
    /// The most tokens to generate.
    public var maxNewTokens = 32
    /// 0 for greedy decoding; otherwise the sampling temperature.
    public var temperature = 0.0
    /// Sample only from the k most likely tokens (0: all).
    public var topK = 0
    /// Sample only from the most likely tokens whose probabilities reach p (1: all).
    public var topP = 1.0
    /// Drop tokens less likely than min-p times the most likely one (0: none).
    public var minP = 0.0
    /// The sampling seed: the same seed and settings give the same tokens.
    public var seed: UInt64 = 0
    /// Divide positive logits (multiply negative ones) of recently seen tokens by this (1: none).
    public var repeatPenalty = 1.0
    /// How many of the last tokens the repeat penalty looks at (0: none; -1: all).
    public var repeatLastN = 64
    /// Strings that end generation; the text is cut before the first one found.
    public var stop: [String] = []
    /// Do not stop at end-of-sequence ids.
    public var ignoreEndOfSequence = false
    /// Record each generated token's log-probability and this many most likely alternatives (0...20; nil: none).
    /// They are the log-softmax of the model's logits after the repeat penalty, at temperature 1, before top-k,
    /// top-p and min-p (`TokenLogprob`), the same with and without speculative decoding.
    public var logprobs: Int?

    /// The defaults: 32 greedy tokens.
    public init() {}

    /// The engine's sampling options for these settings.
    var sampling: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed, repeatPenalty: repeatPenalty,
                        repeatLastN: repeatLastN, minP: minP)
    }
}
