import BFFN
import BFFNCore
import BFFNEngine
import BFFNTokenizer

/// The JSON bodies of the generation endpoints, as OpenAI shapes them (docs/server.md, "Responses").
struct ResponseShapes {
    let endpoint: CompletionRequest.Endpoint
    /// `chatcmpl-…` or `cmpl-…`, the same in every chunk of a stream.
    let id: String
    /// Unix seconds when the request arrived.
    let created: Int
    let model: String
    /// The model's tokenizer, which spells the tokens of log-probabilities.
    let tokenizer: (any TextTokenizer)?

    init(endpoint: CompletionRequest.Endpoint, model: String, created: Int, tokenizer: (any TextTokenizer)? = nil) {
        self.endpoint = endpoint
        self.model = model
        self.created = created
        self.tokenizer = tokenizer
        var random = SystemRandomNumberGenerator()
        let hex = (0..<3).map { _ in String(random.next() as UInt64, radix: 16) }.joined()
        id = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + hex
    }

    /// OpenAI's finish reason: `length` when max_tokens or the context ended the text, else `stop` (an end-of-sequence
    /// token, a stop string, or a client that went away).
    static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .length, .contextLimit: return "length"
        case .endOfSequence, .stopString, .cancelled: return "stop"
        }
    }

    static func usage(_ g: Generation) -> JSONValue {
        .object([("prompt_tokens", .integer(g.promptIds.count)), ("completion_tokens", .integer(g.generatedIds.count)),
                 ("total_tokens", .integer(g.promptIds.count + g.generatedIds.count))])
    }

    private func envelope(object: String, choices: [JSONValue], usage: JSONValue?) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("id", .string(id)), ("object", .string(object)), ("created", .integer(created)),
                                            ("model", .string(model)), ("system_fingerprint", .string("bffn-\(BFFNVersion.string)")),
                                            ("choices", .array(choices))]
        if let usage { pairs.append(("usage", usage)) }
        return .object(pairs)
    }

    /// A choice's `logprobs` for `entries` (null when the request asked for none), the tokens spelled by `spelling`
    /// (which continues from the previous chunk's). Completions: OpenAI's legacy `{tokens, token_logprobs,
    /// top_logprobs, text_offset}`, offsets in characters from `offset` (where the entries' text begins in the
    /// completion); chat: `{content: [{token, logprob, bytes, top_logprobs}], refusal: null}`.
    func logprobs(_ entries: [TokenLogprob]?, spelling: inout TokenSpelling, offset: Int = 0) -> JSONValue {
        guard let entries else { return .null }
        let spelled = entries.map { spelling.spell($0) }
        switch endpoint {
        case .completions:
            var offsets: [JSONValue] = [], at = offset
            for s in spelled {
                offsets.append(.integer(at))
                at += s.token.unicodeScalars.count
            }
            let top = zip(entries, spelled).map { e, s in JSONValue.object(zip(e.top, s.top).map { ($1, .double($0.logprob)) }) }
            return .object([("tokens", .array(spelled.map { .string($0.token) })), ("token_logprobs", .array(entries.map { .double($0.logprob) })),
                            ("top_logprobs", .array(top)), ("text_offset", .array(offsets))])
        case .chat:
            func item(_ text: String, _ logprob: Double) -> [(String, JSONValue)] {
                [("token", .string(text)), ("logprob", .double(logprob)), ("bytes", .array(text.utf8.map { .integer($0) }))]
            }
            let content = zip(entries, spelled).map { e, s in
                JSONValue.object(item(s.token, e.logprob) + [("top_logprobs", .array(zip(e.top, s.top).map { .object(item($1, $0.logprob)) }))])
            }
            return .object([("content", .array(content)), ("refusal", .null)])
        }
    }

    /// The whole answer of a non-streaming request (`logprobs` when the request asked for them).
    func complete(_ g: Generation, logprobs asked: Bool = false) -> JSONValue {
        var spelling = TokenSpelling(tokenizer: tokenizer)
        let choiceLogprobs = logprobs(asked ? g.logprobs : nil, spelling: &spelling)
        let text = JSONValue.string(g.text ?? "")
        let finish = JSONValue.string(Self.finishReason(g.stopReason))
        switch endpoint {
        case .chat:
            let message = JSONValue.object([("role", "assistant"), ("content", text)])
            return envelope(object: "chat.completion", choices: [.object([("index", 0), ("message", message), ("logprobs", choiceLogprobs), ("finish_reason", finish)])],
                            usage: Self.usage(g))
        case .completions:
            return envelope(object: "text_completion", choices: [.object([("index", 0), ("text", text), ("logprobs", choiceLogprobs), ("finish_reason", finish)])],
                            usage: Self.usage(g))
        }
    }

    /// One streamed chunk: `text` (nil: the chat's opening `{"role": "assistant"}` delta, or the closing empty delta when
    /// `finish` is set), with the log-probabilities of its tokens when asked (`offset`: where its text begins).
    func chunk(text: String?, finish: StopReason? = nil, role: Bool = false, logprobs entries: [TokenLogprob]? = nil,
               spelling: inout TokenSpelling, offset: Int = 0) -> JSONValue {
        let finishValue = finish.map { JSONValue.string(Self.finishReason($0)) } ?? .null
        let choiceLogprobs = logprobs(entries, spelling: &spelling, offset: offset)
        switch endpoint {
        case .chat:
            var delta: [(String, JSONValue)] = []
            if role { delta.append(("role", "assistant")); delta.append(("content", "")) }
            if let text { delta.append(("content", .string(text))) }
            return envelope(object: "chat.completion.chunk",
                            choices: [.object([("index", 0), ("delta", .object(delta)), ("logprobs", choiceLogprobs), ("finish_reason", finishValue)])], usage: nil)
        case .completions:
            return envelope(object: "text_completion",
                            choices: [.object([("index", 0), ("text", .string(text ?? "")), ("logprobs", choiceLogprobs), ("finish_reason", finishValue)])], usage: nil)
        }
    }

    /// A chunk without log-probabilities.
    func chunk(text: String?, finish: StopReason? = nil, role: Bool = false) -> JSONValue {
        var none = TokenSpelling(tokenizer: nil)
        return chunk(text: text, finish: finish, role: role, logprobs: nil, spelling: &none)
    }

    /// The last chunk of `stream_options.include_usage`: no choices, the usage.
    func usageChunk(_ g: Generation) -> JSONValue {
        envelope(object: endpoint == .chat ? "chat.completion.chunk" : "text_completion", choices: [], usage: Self.usage(g))
    }

    /// A server-sent event carrying `value`.
    static func event(_ value: JSONValue) -> String { "data: " + value.serialized(pretty: false) + "\n\n" }
}

/// Spells generated tokens for log-probabilities: each chosen token as the text it adds to the completion (so the
/// tokens join into the text; a token that ends inside a character adds "" and the one completing it the character),
/// and each alternative as the text it would have added after the tokens before it.
struct TokenSpelling {
    private var decoder: StreamingDetokenizer?
    private let tokenizer: (any TextTokenizer)?
    /// The last chosen ids: the context an alternative is spelled after.
    private var recent: [Int] = []

    init(tokenizer: (any TextTokenizer)?) {
        self.tokenizer = tokenizer
        decoder = tokenizer.map { StreamingDetokenizer(tokenizer: $0) }
    }

    /// The chosen token's text and its alternatives' texts, in `entry.top`'s order; advances past the chosen token.
    mutating func spell(_ entry: TokenLogprob) -> (token: String, top: [String]) {
        guard let tokenizer else { return ("", entry.top.map { _ in "" }) }
        let context = Array(recent.suffix(4))
        let top = entry.top.map { c -> String in
            var d = StreamingDetokenizer(tokenizer: tokenizer, context: context)
            let piece = (try? d.push(c.id)) ?? ""
            return piece.isEmpty ? ((try? d.finish()) ?? "") : piece
        }
        let token = (try? decoder?.push(entry.id)) ?? ""
        recent.append(entry.id)
        if recent.count > 8 { recent.removeFirst(recent.count - 8) }
        return (token, top)
    }
}
