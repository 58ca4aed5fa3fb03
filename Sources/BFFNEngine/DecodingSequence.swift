import BFFNCore

/// One sequence being decoded token by token: its prompt, the ids chosen so far, its sampler (greedy or seeded),
/// its stop rules and why it stopped. Plain decoding (`GreedyDecoder`) and several sequences decoded together
/// (`SequenceBatch`) both choose tokens through it, so a sequence gets the same ids from the same logits either way.
public struct DecodingSequence {
    /// The prompt's ids.
    public let prompt: [Int]
    /// What the generation does: how many tokens, stop ids and strings, sampling.
    public let options: GenerationOptions
    /// The ids chosen so far.
    public private(set) var generated: [Int] = []
    /// With `options.logprobs`: each chosen id's log-probabilities, in order.
    public private(set) var logprobs: [TokenLogprob] = []
    /// Why the sequence stopped; nil while it goes on (`.length` at once when `maxNewTokens` is 0).
    public private(set) var stopReason: StopReason?
    private var sampler: TokenSampler
    private var matcher: StopStringMatcher?

    /// A sequence ready for its first token.
    /// - Throws: `.usage` for an empty prompt, one longer than the context or sampling options out of range
    ///   (`GenerationOptions.check`); for stop strings without a text decoder.
    public init(prompt: [Int], options: GenerationOptions) throws {
        try options.check(prompt: prompt)
        self.prompt = prompt
        self.options = options
        sampler = TokenSampler(options.sampling)
        matcher = try options.stopStringMatcher()
        stopReason = options.maxNewTokens == 0 ? .length : nil
    }

    /// With stop strings: the generated text, cut before the stop string when one ended the sequence; else nil.
    public var text: String? { matcher?.text }

    /// Chooses the next id from the logits that predict it (the repeat penalty reads the prompt and the ids so far),
    /// records its log-probabilities (with `options.logprobs`, handed to `onLogprob` first), hands it to `onToken`, then
    /// decides whether the sequence stops (`stopReason`).
    /// - Returns: the chosen id.
    /// - Throws: what `onToken` throws; the stop-string decoder's errors.
    @discardableResult
    public mutating func choose(from logits: ArraySlice<Float>, onToken: (Int) throws -> Void,
                                onLogprob: ((TokenLogprob) -> Void)? = nil) throws -> Int {
        let history = options.sampling.penalisesRepeats ? prompt + generated : []
        let next = sampler.next(logits, history: history)
        if let top = options.logprobs {
            let entry = TokenLogprob(id: next, logits: logits, sampling: options.sampling, history: history, top: top)
            logprobs.append(entry)
            onLogprob?(entry)
        }
        generated.append(next)
        try onToken(next)
        stopReason = try options.stopReason(promptCount: prompt.count, generated: generated, matcher: &matcher)
        return next
    }
}
