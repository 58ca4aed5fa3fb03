import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTokenizer
import Synchronization

extension BlockFFNModel {
    /// The ids of `prompt`: text and chats encoded with the model's tokenizer (bos added as its configuration says),
    /// ids as given.
    /// - Throws: when a text prompt meets a model without tokenizer; `.outOfBounds` for an id beyond the vocabulary.
    public func encode(_ prompt: Prompt) throws -> [Int] {
        let ids: [Int]
        switch prompt {
        case .ids(let given): ids = given
        case .text(let text): ids = try requireTokenizer().encode(text, addSpecial: true)
        case .chat(let messages):
            let (text, special) = try renderChat(messages)
            ids = try requireTokenizer().encode(text, addSpecial: special)
        }
        let V = architecture.vocabSize
        if let bad = ids.first(where: { $0 < 0 || $0 >= V }) {
            throw BFFNError(.outOfBounds, "prompt token id \(bad) is not below the model's vocabulary size \(V)", field: "prompt")
        }
        return ids
    }

    /// The prompt text of a conversation (`ChatRendering.render` with the model's template), and whether its
    /// encoding adds special tokens.
    /// - Throws: the template's read or render errors.
    public func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> (text: String, addSpecialTokens: Bool) {
        if let chatTemplateError { throw chatTemplateError }
        return try ChatRendering.render(messages, template: chatTemplate, addGenerationPrompt: addGenerationPrompt)
    }

    /// Generates after `prompt` with `settings`, plain or speculative as the model's options say (speculative
    /// decoding gives exactly plain decoding's greedy tokens; sampled tokens follow the same distribution, and the
    /// same seed gives the same tokens).
    ///
    /// `onText` receives the generated text in pieces as tokens are accepted (complete UTF-8, a possible beginning
    /// of a stop string held back until it is decided); returning false stops generation after the current token
    /// (`StopReason.cancelled`). It is not called for a model without tokenizer.
    /// - Throws: `.usage` for an empty prompt or one longer than the context, or settings out of range; the
    ///   engine's and drafter's errors. Nothing is left half-done: the model is ready for the next call.
    public func generate(_ prompt: Prompt, settings: GenerationSettings = GenerationSettings(),
                         onText: ((String) -> Bool)? = nil) throws -> Generation {
        try generatePieces(prompt, settings: settings, onPiece: onText.map { onText in { onText($0.text) } })
    }

    /// As `generate(_:settings:onText:)`, with each text piece handed over together with the log-probabilities of
    /// the tokens generated since the previous piece (with `settings.logprobs`; a token whose text is held back,
    /// as a possible beginning of a stop string or an incomplete UTF-8 character, comes with a later piece, and the
    /// last piece brings any left). `onPiece` is not called for a model without tokenizer.
    /// - Throws: as `generate(_:settings:onText:)`.
    public func generatePieces(_ prompt: Prompt, settings: GenerationSettings = GenerationSettings(),
                               onPiece: ((GeneratedPiece) -> Bool)?) throws -> Generation {
        let promptIds = try encode(prompt)
        if let batched {
            var g = try generate(promptIds: promptIds, settings: settings, onPiece: onPiece) { prompt, options, onToken, onLogprob in
                try batched.run(prompt: prompt, options: options, onToken: onToken, onLogprob: onLogprob)
            }
            g.json = g.json.appending("memory", memoryReport(tokens: promptIds.count + g.generatedIds.count)?.json ?? .null)
            return g
        }
        return try lock.withLock { _ in
            var g = try generate(promptIds: promptIds, settings: settings, onPiece: onPiece) { prompt, options, onToken, onLogprob in
                try GreedyDecoder.generate(engine, prompt: prompt, options: options, onToken: onToken, onLogprob: onLogprob)
            }
            g.json = g.json.appending("memory", cache.map { $0.report(tokens: promptIds.count + g.generatedIds.count).json } ?? .null)
            return g
        }
    }

    /// The generated text as an asynchronous stream of pieces (as `generate`'s `onText`); cancelling the consuming
    /// task stops generation after the current token. Generation runs on a thread of its own.
    public func stream(_ prompt: Prompt, settings: GenerationSettings = GenerationSettings()) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = Atomic<Bool>(false)
            continuation.onTermination = { _ in cancelled.store(true, ordering: .relaxed) }
            let started = Threads.startDetached { [self] in
                do {
                    _ = try generate(prompt, settings: settings) { piece in
                        continuation.yield(piece)
                        return !cancelled.load(ordering: .relaxed)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            if !started { continuation.finish(throwing: BFFNError(.io, "could not start a thread for the generation")) }
        }
    }

    /// One generation, speculative when the model has a drafter, else through `decode` (alone on the engine, or in
    /// the batch of concurrent calls); the caller holds what the engine needs held. The JSON lacks "memory".
    private func generate(promptIds: [Int], settings: GenerationSettings, onPiece: ((GeneratedPiece) -> Bool)?,
                          decode: ([Int], GenerationOptions, @escaping (Int) throws -> Void, @escaping (TokenLogprob) -> Void) throws -> GenerationResult)
        throws -> Generation {
        var stopIds = Set(tokenizer?.eosIds ?? [])
        stopIds.formUnion(config.eosTokenIds ?? [])
        if settings.ignoreEndOfSequence { stopIds = [] }
        let bundle = tokenizer
        var options = GenerationOptions(maxNewTokens: settings.maxNewTokens, stopIds: stopIds, sampling: settings.sampling,
                                        contextLimit: config.maxPositionEmbeddings, stopStrings: settings.stop,
                                        textDecoder: bundle.map { b in { @Sendable in StreamingDetokenizer(tokenizer: b.tokenizer) } })
        guard settings.maxNewTokens >= 0 else { throw BFFNError(.usage, "max new tokens must be 0 or more", field: "max_new_tokens") }
        guard settings.temperature >= 0 && settings.temperature.isFinite else { throw BFFNError(.usage, "the temperature must be 0 or more", field: "temperature") }
        guard settings.topP > 0 && settings.topP <= 1 else { throw BFFNError(.usage, "top-p must be in (0, 1]", field: "top_p") }
        guard settings.topK >= 0 else { throw BFFNError(.usage, "top-k must be 0 or more", field: "top_k") }
        if let n = settings.logprobs { guard (0...20).contains(n) else { throw BFFNError(.usage, "logprobs alternatives must be 0...20", field: "logprobs") } }
        options.logprobs = settings.logprobs
        // The text as it is accepted, through a matcher that holds back what may begin a stop string; the
        // log-probabilities of the tokens not yet handed over with a piece.
        let stopped = Atomic<Bool>(false)
        var stream: StopStringMatcher? = nil
        var pending: [TokenLogprob] = []
        if onPiece != nil, let b = bundle { stream = StopStringMatcher(strings: settings.stop, decoder: StreamingDetokenizer(tokenizer: b.tokenizer)) }
        if onPiece != nil { options.shouldStop = { stopped.load(ordering: .relaxed) } }
        let vocabulary = bundle?.tokenizer.vocabularySize ?? 0
        let onLogprob: (TokenLogprob) -> Void = { entry in if onPiece != nil { pending.append(entry) } }
        let onToken: (Int) throws -> Void = { id in
            guard let onPiece, stream != nil else { return }
            guard id < vocabulary else { stream = nil; return }
            if let piece = try stream?.push(id), !piece.isEmpty {
                defer { pending.removeAll() }
                if !onPiece(GeneratedPiece(text: piece, logprobs: pending)) { stopped.store(true, ordering: .relaxed) }
            }
        }
        // The text of the generated ids, cut before the stop string that ended generation.
        let text: ([Int], StopReason, String?) throws -> String? = { ids, reason, cut in
            guard let bundle, ids.allSatisfy({ $0 < bundle.tokenizer.vocabularySize }) else { return nil }
            return try (reason == .stopString ? cut : nil) ?? bundle.decode(ids)
        }
        var generation: Generation
        // The adaptive controller decides draft sizes from measured time; with sampling, the random draws then
        // depend on the timing, so a seed would not reproduce the text. Sampling drafts the whole shape.
        let adaptive = self.options.adaptiveDrafting && settings.temperature == 0
        if let drafter, let shape {
            var r = try SpeculativeDecoder.generate(engine, drafter: drafter, shape: shape, prompt: promptIds, options: options,
                                                    adaptive: adaptive ? drafting : nil,
                                                    onToken: onToken, onLogprob: onLogprob)
            r.text = try text(r.generatedIds, r.stopReason, r.text)
            generation = Generation(promptIds: promptIds, generatedIds: r.generatedIds, text: r.text, stopReason: r.stopReason,
                                    prefillSeconds: r.prefillSeconds, decodeTokensPerSecond: r.tokensPerSecond,
                                    expertsReadFraction: r.expertsReadFraction,
                                    speculative: .init(drafter: drafter.name, shape: shape, adaptive: adaptive, steps: r.steps,
                                                       plainSteps: r.plainSteps, meanAcceptLength: r.meanAcceptLength),
                                    logprobs: r.logprobs, activations: activationsLabel, json: r.json(drafter: drafter.name, shape: shape, adaptive: adaptive))
        } else {
            var r = try decode(promptIds, options, onToken, onLogprob)
            r.text = try text(r.generatedIds, r.stopReason, r.text)
            generation = Generation(promptIds: promptIds, generatedIds: r.generatedIds, text: r.text, stopReason: r.stopReason,
                                    prefillSeconds: r.prefillSeconds, decodeTokensPerSecond: r.tokensPerSecond,
                                    expertsReadFraction: r.expertsReadFraction, speculative: nil, logprobs: r.logprobs,
                                    activations: activationsLabel, json: r.json)
        }
        if let onPiece, stream != nil {
            let rest = try stream?.finish() ?? ""
            if !rest.isEmpty || !pending.isEmpty { _ = onPiece(GeneratedPiece(text: rest, logprobs: pending)) }
        }
        generation.json = generation.json.appending("activations", .string(activationsLabel))
        if settings.logprobs != nil { generation.json = generation.json.appending("logprobs", .array(generation.logprobs.map(\.json))) }
        return generation
    }
}
