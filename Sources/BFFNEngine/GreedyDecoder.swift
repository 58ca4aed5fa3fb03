import BFFNCore

/// Why generation stopped.
public enum StopReason: String, Sendable {
    /// `maxNewTokens` tokens were generated.
    case length = "max_new_tokens"
    /// An end-of-sequence id was generated (it is the last generated id).
    case endOfSequence = "eos"
    /// The sequence filled the model's context (`max_position_embeddings`).
    case contextLimit = "context_limit"
    /// The generated text contained a stop string (`GenerationOptions.stopStrings`); the text is cut before it.
    case stopString = "stop"
    /// The caller asked to stop (`GenerationOptions.shouldStop` returned true after an emitted id).
    case cancelled = "cancelled"
}

/// What a generation call does: how many tokens, when to stop, how to choose them.
public struct GenerationOptions: Sendable {
    /// The most tokens to generate.
    public var maxNewTokens: Int
    /// Ids that end generation (generation_config.json's eos ids); the id is kept as the last generated one.
    public var stopIds: Set<Int>
    /// Greedy (the default) or sampling.
    public var sampling: SamplingOptions
    /// The most positions the prompt and generated tokens may fill together (the model's
    /// `max_position_embeddings`); nil for no limit.
    public var contextLimit: Int?
    /// Strings that end generation when the generated text contains one (the text is cut before it; the ids
    /// are kept up to the one that completed it). They need `textDecoder`.
    public var stopStrings: [String]
    /// Makes a fresh decoder of generated ids into text (a streaming detokenizer) for `stopStrings`.
    public var textDecoder: (@Sendable () -> any TokenTextDecoder)?
    /// Asked after every emitted id (once the other stop reasons are checked): true ends generation with
    /// `StopReason.cancelled`, keeping the ids emitted so far. For a caller's stop button or a closed connection.
    public var shouldStop: (@Sendable () -> Bool)? = nil
    /// Record each chosen token's log-probability with this many most likely alternatives (0...20; nil: none).
    public var logprobs: Int? = nil

    /// Creates options.
    public init(maxNewTokens: Int, stopIds: Set<Int> = [], sampling: SamplingOptions = .greedy, contextLimit: Int? = nil,
                stopStrings: [String] = [], textDecoder: (@Sendable () -> any TokenTextDecoder)? = nil) {
        self.maxNewTokens = maxNewTokens
        self.stopIds = stopIds
        self.sampling = sampling
        self.contextLimit = contextLimit
        self.stopStrings = stopStrings
        self.textDecoder = textDecoder
    }

    /// A matcher for `stopStrings`, or nil when there are none.
    /// - Throws: `.usage` when there are stop strings but no `textDecoder`.
    public func stopStringMatcher() throws -> StopStringMatcher? {
        guard stopStrings.contains(where: { !$0.isEmpty }) else { return nil }
        guard let textDecoder else { throw BFFNError(.usage, "stop strings need a tokenizer to decode the generated text") }
        return StopStringMatcher(strings: stopStrings, decoder: textDecoder())
    }

    /// Throws `.usage` when the prompt is empty or does not fit the context, for a repeat penalty that is not a
    /// positive finite float, a temperature whose inverse overflows, or a min-p outside [0, 1].
    public func check(prompt: [Int]) throws {
        // The penalty is applied as a Float: one that rounds to 0 or overflows would make logits infinite.
        guard Float(sampling.repeatPenalty) > 0 && Float(sampling.repeatPenalty).isFinite else {
            throw BFFNError(.usage, "the repeat penalty must be a positive number a float can hold")
        }
        guard sampling.temperature == 0 || (sampling.temperature > 0 && (1 / sampling.temperature).isFinite) else {
            throw BFFNError(.usage, "the temperature must be 0 or a positive number whose inverse is finite")
        }
        guard sampling.minP >= 0 && sampling.minP <= 1 else { throw BFFNError(.usage, "min-p must be in [0, 1]") }
        guard !prompt.isEmpty else { throw BFFNError(.usage, "the prompt needs at least one token id") }
        if let limit = contextLimit, prompt.count > limit {
            throw BFFNError(.usage, "the prompt has \(prompt.count) tokens, more than the model's context of \(limit) (max_position_embeddings)")
        }
    }

    /// Why generation stops after the newest id of `generated`, fed to `matcher` first (nil without stop strings):
    /// a stop string, else `stopReason(promptCount:generated:)`; nil to go on. Plain and speculative decoding
    /// both call it after each emitted id.
    /// - Throws: the matcher's text decoder's errors.
    public func stopReason(promptCount: Int, generated: [Int], matcher: inout StopStringMatcher?) throws -> StopReason? {
        if let last = generated.last { _ = try matcher?.push(last) }
        if matcher?.stopped == true { return .stopString }
        return stopReason(promptCount: promptCount, generated: generated)
    }

    /// The stop reason after `generated` ids, or nil to go on.
    public func stopReason(promptCount: Int, generated: [Int]) -> StopReason? {
        if let last = generated.last, stopIds.contains(last) { return .endOfSequence }
        if generated.count >= maxNewTokens { return .length }
        if let limit = contextLimit, promptCount + generated.count >= limit { return .contextLimit }
        if let shouldStop, shouldStop() { return .cancelled }
        return nil
    }
}

/// The result of plain decoding.
public struct GenerationResult: Sendable {
    /// The prompt.
    public var promptIds: [Int]
    /// The generated ids (argmax at each step, ties to the lowest id, or sampled).
    public var generatedIds: [Int]
    /// Why it stopped.
    public var stopReason: StopReason
    /// With stop strings: the generated text, cut before the stop string when one ended generation; else nil.
    public var text: String? = nil
    /// Seconds spent on the prompt (one forward call).
    public var prefillSeconds: Double
    /// Seconds spent generating after the prompt.
    public var decodeSeconds: Double
    /// Generated tokens per second of decode time.
    public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(max(generatedIds.count - 1, 0)) / decodeSeconds : 0 }
    /// With `GenerationOptions.logprobs`: each generated token's log-probability and alternatives, in order.
    public var logprobs: [TokenLogprob] = []
    /// Fraction of expert weights read per decoded token (union size / E, averaged over layers and steps);
    /// 1 for dense FFNs.
    public var expertsReadFraction: Double
}

/// Plain decoding on an engine, one token per forward call: greedy by default, or sampled; the repeat penalty
/// reads the prompt and the tokens generated so far.
public enum GreedyDecoder {
    /// Decodes `maxNewTokens` greedy tokens after `prompt`, stopping early at any id in `stopIds`.
    /// - Throws: as `generate(_:prompt:options:onToken:)`.
    public static func generate(_ engine: Engine, prompt: [Int], maxNewTokens: Int, stopIds: Set<Int> = []) throws -> GenerationResult {
        try generate(engine, prompt: prompt, options: GenerationOptions(maxNewTokens: maxNewTokens, stopIds: stopIds))
    }

    /// Decodes after `prompt` as `options` say, calling `onToken` with each id as it is chosen. The engine's
    /// cache is reset first.
    /// - Throws: `.usage` for an empty prompt or one longer than the context; the engine's errors (a token id
    ///   outside the vocabulary); whatever `onToken` throws.
    /// `onLogprob`, with `options.logprobs`, receives each token's log-probabilities just before `onToken` gets it.
    public static func generate(_ engine: Engine, prompt: [Int], options: GenerationOptions, onToken: (Int) throws -> Void = { _ in },
                                onLogprob: ((TokenLogprob) -> Void)? = nil) throws -> GenerationResult {
        var sequence = try DecodingSequence(prompt: prompt, options: options)
        engine.reset()
        let E = engine.weights.architecture.numExperts
        engine.prepare()
        let t0 = monotonicSeconds()
        var out = try engine.forward(prompt, logits: .last)
        let t1 = monotonicSeconds()
        var row = prompt.count - 1
        var expertSum = 0.0, steps = 0
        while sequence.stopReason == nil {
            let next = try sequence.choose(from: out.logits(at: row), onToken: onToken, onLogprob: onLogprob)
            if sequence.stopReason != nil { break }
            out = try engine.forward([next])
            row = 0
            if E > 0 {
                expertSum += Double(out.expertsComputed.reduce(0, +)) / Double(E * max(out.expertsComputed.count, 1))
                steps += 1
            }
        }
        let t2 = monotonicSeconds()
        return GenerationResult(promptIds: prompt, generatedIds: sequence.generated, stopReason: sequence.stopReason ?? .length,
                                text: sequence.text, prefillSeconds: t1 - t0, decodeSeconds: t2 - t1,
                                logprobs: sequence.logprobs, expertsReadFraction: E == 0 ? 1 : (steps > 0 ? expertSum / Double(steps) : 0))
    }
}
