import BFFN
import BFFNCore
import BFFNEngine

/// The JSON bodies of the generation endpoints, as OpenAI shapes them (docs/server.md, "Responses").
struct ResponseShapes {
    let endpoint: CompletionRequest.Endpoint
    /// `chatcmpl-…` or `cmpl-…`, the same in every chunk of a stream.
    let id: String
    /// Unix seconds when the request arrived.
    let created: Int
    let model: String

    init(endpoint: CompletionRequest.Endpoint, model: String, created: Int) {
        self.endpoint = endpoint
        self.model = model
        self.created = created
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

    /// The whole answer of a non-streaming request.
    func complete(_ g: Generation) -> JSONValue {
        let text = JSONValue.string(g.text ?? "")
        let finish = JSONValue.string(Self.finishReason(g.stopReason))
        switch endpoint {
        case .chat:
            let message = JSONValue.object([("role", "assistant"), ("content", text)])
            return envelope(object: "chat.completion", choices: [.object([("index", 0), ("message", message), ("logprobs", .null), ("finish_reason", finish)])],
                            usage: Self.usage(g))
        case .completions:
            return envelope(object: "text_completion", choices: [.object([("index", 0), ("text", text), ("logprobs", .null), ("finish_reason", finish)])],
                            usage: Self.usage(g))
        }
    }

    /// One streamed chunk: `text` (nil: the chat's opening `{"role": "assistant"}` delta, or the closing empty delta when
    /// `finish` is set).
    func chunk(text: String?, finish: StopReason? = nil, role: Bool = false) -> JSONValue {
        let finishValue = finish.map { JSONValue.string(Self.finishReason($0)) } ?? .null
        switch endpoint {
        case .chat:
            var delta: [(String, JSONValue)] = []
            if role { delta.append(("role", "assistant")); delta.append(("content", "")) }
            if let text { delta.append(("content", .string(text))) }
            return envelope(object: "chat.completion.chunk",
                            choices: [.object([("index", 0), ("delta", .object(delta)), ("logprobs", .null), ("finish_reason", finishValue)])], usage: nil)
        case .completions:
            return envelope(object: "text_completion",
                            choices: [.object([("index", 0), ("text", .string(text ?? "")), ("logprobs", .null), ("finish_reason", finishValue)])], usage: nil)
        }
    }

    /// The last chunk of `stream_options.include_usage`: no choices, the usage.
    func usageChunk(_ g: Generation) -> JSONValue {
        envelope(object: endpoint == .chat ? "chat.completion.chunk" : "text_completion", choices: [], usage: Self.usage(g))
    }

    /// A server-sent event carrying `value`.
    static func event(_ value: JSONValue) -> String { "data: " + value.serialized(pretty: false) + "\n\n" }
}
