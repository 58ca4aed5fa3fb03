import BFFN
import BFFNChatTemplate
import BFFNCore
import BFFNTokenizer
import Hummingbird
import NIOCore
import Synchronization

/// What a generation thread reports to the request waiting on it.
enum GenerationEvent: Sendable {
    /// A piece of text with the log-probabilities of its tokens (empty unless asked).
    case text(String, [TokenLogprob])
    case finished(Generation)
    case failed(any Error)
}

/// Set when the request no longer wants its generation (the client went away, the stream's reader ended).
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

extension CompletionServer {
    /// A generation endpoint: read and check the body, encode the prompt, wait for a slot, generate, answer as one
    /// JSON object or as server-sent events.
    func complete(_ request: Request, context: ServerContext, endpoint: CompletionRequest.Endpoint) async throws -> Response {
        let arrival = monotonicSeconds()
        metrics.request(endpoint.rawValue)
        var request = request
        let buffer = try await request.collectBody(upTo: configuration.maxBodyBytes)
        let parsed = try CompletionRequest.parse(Array(buffer.readableBytesView), endpoint: endpoint, randomSeed: UInt64.random(in: 0...UInt64.max))
        let promptIds = try encode(parsed.input)
        var settings = parsed.settings
        settings.maxNewTokens = try tokenBudget(prompt: promptIds.count, maxTokens: parsed.maxTokens)
        let slot = try await pool.acquire()
        let channel = context.channel
        // A client that left while its request waited gives the slot back at once.
        guard channel.isActive else {
            await pool.release(slot)
            throw APIError(status: 499, message: "the client closed the connection", type: "invalid_request_error", code: "client_closed")
        }
        let events = startGeneration(slot: slot, promptIds: promptIds, settings: settings, isConnected: { channel.isActive })
        let shapes = ResponseShapes(endpoint: endpoint, model: modelName, created: Int(time(nil)), tokenizer: models[0].tokenizer?.tokenizer)
        let asked = settings.logprobs != nil
        if parsed.stream {
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
                try await self.stream(events, shapes: shapes, includeUsage: parsed.includeUsage, logprobs: asked, arrival: arrival, writer: &writer)
            })
        }
        var first = true
        for await event in events {
            switch event {
            case .text:
                if first { metrics.firstToken(after: monotonicSeconds() - arrival); first = false }
            case .finished(let g):
                return json(shapes.complete(g, logprobs: asked))
            case .failed(let error):
                throw error
            }
        }
        throw APIError(status: 500, message: "the generation ended without a result", type: "server_error")
    }

    /// Writes the events as server-sent events, then `data: [DONE]`. A failed write (the client went away) ends the
    /// loop, which ends the event stream and so cancels the generation.
    private func stream(_ events: AsyncStream<GenerationEvent>, shapes: ResponseShapes, includeUsage: Bool, logprobs: Bool,
                        arrival: Double, writer: inout any ResponseBodyWriter) async throws {
        func send(_ text: String) async throws { try await writer.write(ByteBuffer(string: text)) }
        if shapes.endpoint == .chat { try await send(ResponseShapes.event(shapes.chunk(text: nil, role: true))) }
        var first = true, offset = 0
        var spelling = TokenSpelling(tokenizer: shapes.tokenizer)
        for await event in events {
            switch event {
            case .text(let piece, let entries):
                if first { metrics.firstToken(after: monotonicSeconds() - arrival); first = false }
                try await send(ResponseShapes.event(shapes.chunk(text: piece, logprobs: logprobs ? entries : nil, spelling: &spelling, offset: offset)))
                offset += piece.unicodeScalars.count
            case .finished(let g):
                try await send(ResponseShapes.event(shapes.chunk(text: shapes.endpoint == .chat ? nil : "", finish: g.stopReason)))
                if includeUsage { try await send(ResponseShapes.event(shapes.usageChunk(g))) }
            case .failed(let error):
                try await send(ResponseShapes.event(APIError.from(error).json))
            }
        }
        try await send("data: [DONE]\n\n")
        try await writer.finish(nil)
    }

    /// Token ids of the request's prompt: completion text with bos as the tokenizer's configuration says; a chat
    /// rendered with the model's chat template (`add_generation_prompt`, encoded without added special tokens, as
    /// transformers' `apply_chat_template` does) or, without one, in the published BlockFFN format (encoded as text):
    /// `ChatRendering`, as `generate --chat` and `bffn chat-template` use it, with the template the model found (a
    /// pack's carried chat_template.jinja included).
    func encode(_ input: CompletionRequest.Input) throws -> [Int] {
        let model = models[0]
        let ids: [Int]
        switch input {
        case .ids(let given):
            ids = given
        case .text(let text):
            ids = try model.tokenize(text, addSpecialTokens: true)
        case .chat(let turns):
            let rendered: (text: String, addSpecialTokens: Bool)
            do {
                rendered = try ChatRendering.render(turns: turns.map { ($0.role, $0.content) }, template: model.chatTemplate)
            } catch let e as BFFNError {
                throw APIError.invalid("the chat template refused the messages: \(e.reason)", param: "messages", code: "chat_template_error")
            }
            ids = try model.tokenize(rendered.text, addSpecialTokens: rendered.addSpecialTokens)
        }
        let vocabulary = model.architecture.vocabSize
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw APIError.invalid("token id \(bad) is not below the vocabulary size \(vocabulary)", param: "prompt", code: "invalid_value")
        }
        guard !ids.isEmpty else { throw APIError.invalid("the prompt encodes to no tokens", param: "prompt", code: "invalid_value") }
        return ids
    }

    /// How many tokens the request may generate: `max_tokens` when prompt and completion fit in the context, the
    /// rest of the context when not given.
    /// - Throws: `APIError` 400 `context_length_exceeded`.
    func tokenBudget(prompt: Int, maxTokens: Int?) throws -> Int {
        let room = contextLength - prompt
        guard room >= 1 else {
            throw APIError.invalid("the prompt has \(prompt) tokens; this model's context is \(contextLength) tokens and needs room for at least one more",
                                   param: "messages", code: "context_length_exceeded")
        }
        guard let maxTokens else { return room }
        guard maxTokens <= room else {
            throw APIError.invalid("the prompt (\(prompt) tokens) and max_tokens (\(maxTokens)) exceed this model's context of \(contextLength) tokens",
                                   param: "max_tokens", code: "context_length_exceeded")
        }
        return maxTokens
    }

    /// Runs one generation on slot `slot`'s model (the shared one when sequences are batched), on a thread of its own, and gives the slot back when it ends.
    /// The generation stops at its next token when the events' reader goes away or `isConnected` turns false.
    /// The stream buffers at most one event per generated token (max_tokens bounds it).
    func startGeneration(slot: Int, promptIds: [Int], settings: GenerationSettings,
                         isConnected: @escaping @Sendable () -> Bool) -> AsyncStream<GenerationEvent> {
        let (events, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
        let cancel = CancelFlag()
        continuation.onTermination = { _ in cancel.cancel() }
        let model = models.count == 1 ? models[0] : models[slot]
        let pool = self.pool
        let metrics = self.metrics
        let started = Threads.startDetached {
            let outcome: GenerationEvent
            do {
                let g = try model.generatePieces(.ids(promptIds), settings: settings) { piece in
                    continuation.yield(.text(piece.text, piece.logprobs))
                    return !cancel.isCancelled && isConnected()
                }
                metrics.finished(g)
                outcome = .finished(g)
            } catch {
                outcome = .failed(error)
            }
            continuation.yield(outcome)
            continuation.finish()
            Task { await pool.release(slot) }
        }
        if !started {
            continuation.yield(.failed(APIError(status: 503, message: "could not start a thread for the generation", type: "server_error")))
            continuation.finish()
            Task { await pool.release(slot) }
        }
        return events
    }
}
