import BFFN
import BFFNCore

/// A `/v1/completions` or `/v1/chat/completions` request body, read and checked field by field.
///
/// Unknown fields are ignored, as OpenAI does; `null` counts as absent. A known field of the wrong type, a value out
/// of range or an option the server does not implement is an `APIError` 400 naming the field (docs/server.md,
/// "Request fields").
public struct CompletionRequest: Sendable {
    /// Which endpoint the request came to.
    public enum Endpoint: String, Sendable {
        case chat = "/v1/chat/completions"
        case completions = "/v1/completions"
    }

    /// What the generation starts from.
    public enum Input: Sendable, Equatable {
        /// A completion prompt as text (encoded with the model's tokenizer, bos as its configuration says).
        case text(String)
        /// A completion prompt as token ids.
        case ids([Int])
        /// Chat messages, each `{"role", "content"}` with the content as one string.
        case chat([ChatTurn])
    }

    /// One chat message with its content flattened to text.
    public struct ChatTurn: Sendable, Equatable {
        public var role: String
        public var content: String
    }

    public var endpoint: Endpoint
    public var input: Input
    /// `max_tokens` / `max_completion_tokens`; nil: up to the context's end.
    public var maxTokens: Int?
    /// Sampling, repetition and stop strings (`maxNewTokens` is set once the prompt's length is known).
    public var settings: GenerationSettings
    /// Answer as server-sent events.
    public var stream: Bool
    /// `stream_options.include_usage`: a last chunk with `usage` and no choices.
    public var includeUsage: Bool

    /// The most stop strings a request may give.
    public static let maxStopStrings = 16
    /// The most token ids a `prompt` list may hold (the context bounds it again later).
    public static let maxPromptIds = 1 << 20
    /// The smallest temperature above 0 accepted. Below about 1e-308, 1 / T overflows and the sampler's weights turn
    /// NaN (with `min_p`, no token was left and the generation thread trapped, taking the server down);
    /// 1e-6 is already as good as greedy.
    public static let minimumTemperature = 1e-6
    /// `repeat_penalty`'s range: a penalty that rounds to 0 as a Float (5e-324) made logits infinite, and the sampler
    /// trapped as above; 0.01...100 keeps every penalised logit within 100 times the model's.
    public static let repeatPenaltyRange = 0.01...100.0

    /// Reads `body` (UTF-8 JSON text) as a request to `endpoint`.
    /// - Parameter randomSeed: the seed used when the request gives none.
    /// - Throws: `APIError` 400: malformed JSON or invalid UTF-8, a body that is not an object, a field of the wrong
    ///   type or out of range, `n` other than 1, `echo`, `best_of`, `suffix`, non-zero
    ///   `frequency_penalty` / `presence_penalty` (not supported).
    public static func parse(_ body: [UInt8], endpoint: Endpoint, randomSeed: UInt64) throws(APIError) -> CompletionRequest {
        try parse(body, endpoint: endpoint, randomSeed: randomSeed, log: nil)
    }

    /// The fields `parse` reads from a request to `endpoint`, top-level names first as read, then nested ones
    /// (`stream_options.include_usage`, `messages[].role`...): what docs/openapi.json must describe (BFFNServerTests
    /// compares them). Found by parsing a request that gives every object the parser looks into.
    public static func fieldsRead(endpoint: Endpoint) -> [String] {
        let log = FieldLog()
        let body = endpoint == .chat ? #"{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "stream_options": {}}"#
                                     : #"{"prompt": "x", "stream_options": {}}"#
        _ = try? parse(Array(body.utf8), endpoint: endpoint, randomSeed: 0, log: log)
        var seen = Set<String>()
        return log.names.map { $0.replacing(/\[[0-9]+\]/, with: "[]") }.filter { seen.insert($0).inserted }
    }

    static func parse(_ body: [UInt8], endpoint: Endpoint, randomSeed: UInt64, log: FieldLog?) throws(APIError) -> CompletionRequest {
        let root: JSONValue
        do {
            root = try body.withUnsafeBytes { try JSONValue.parse($0, what: "the request body", maxDepth: 32) }
        } catch let e as BFFNError {
            throw .invalid(e.reason, code: "invalid_json")
        } catch {
            throw .invalid("the request body is not valid JSON", code: "invalid_json")
        }
        guard case .object = root else { throw .invalid("the request body must be a JSON object, not \(root.typeName)", code: "invalid_json") }
        let f = Fields(root: root, log: log)
        _ = try f.string("model")
        let input: Input
        switch endpoint {
        case .chat: input = .chat(try f.messages())
        case .completions: input = try f.prompt()
        }
        if let n = try f.integer("n"), n != 1 { throw .invalid("only n = 1 is supported", param: "n", code: "unsupported_value") }
        if let b = try f.integer("best_of"), b != 1 { throw .invalid("only best_of = 1 is supported", param: "best_of", code: "unsupported_value") }
        if try f.bool("echo") == true { throw .invalid("echo is not supported", param: "echo", code: "unsupported_value") }
        if try f.string("suffix") != nil { throw .invalid("suffix is not supported", param: "suffix", code: "unsupported_value") }
        let logprobs = try f.logprobs(endpoint: endpoint)
        for name in ["frequency_penalty", "presence_penalty"] {
            if let v = try f.number(name), v != 0 {
                throw .invalid("\(name) is not supported; use repeat_penalty and repeat_last_n", param: name, code: "unsupported_value")
            }
        }
        var request = CompletionRequest(endpoint: endpoint, input: input, maxTokens: nil, settings: GenerationSettings(), stream: false, includeUsage: false)
        // Both are checked; max_completion_tokens wins when both are given.
        for name in ["max_tokens", "max_completion_tokens"] {
            guard let m = try f.integer(name) else { continue }
            guard m >= 1 else { throw .invalid("'\(name)' must be at least 1", param: name, code: "invalid_value") }
            request.maxTokens = m
        }
        var s = GenerationSettings()
        s.logprobs = logprobs
        // OpenAI's default temperature is 1.
        s.temperature = try f.number("temperature", in: 0...2) ?? 1
        guard s.temperature == 0 || s.temperature >= Self.minimumTemperature else {
            throw .invalid("'temperature' must be 0 (greedy) or at least \(Self.minimumTemperature), not \(s.temperature)",
                           param: "temperature", code: "invalid_value")
        }
        s.topP = try f.number("top_p", in: 0...1) ?? 1
        guard s.topP > 0 else { throw .invalid("'top_p' must be greater than 0", param: "top_p", code: "invalid_value") }
        s.topK = try f.integer("top_k", in: 0...1_000_000) ?? 0
        s.minP = try f.number("min_p", in: 0...1) ?? 0
        s.repeatPenalty = try f.number("repeat_penalty", in: Self.repeatPenaltyRange) ?? 1
        s.repeatLastN = try f.integer("repeat_last_n", in: -1...1_000_000) ?? 64
        s.seed = try f.integer("seed").map { UInt64(bitPattern: Int64($0)) } ?? randomSeed
        s.stop = try f.stop()
        // llama-server's name: keep generating past end-of-sequence tokens (up to max_tokens).
        s.ignoreEndOfSequence = try f.bool("ignore_eos") ?? false
        request.settings = s
        request.stream = try f.bool("stream") ?? false
        if let options = f.value("stream_options") {
            guard case .object = options else { throw .wrongType("stream_options", expected: "an object", got: options) }
            request.includeUsage = try Fields(root: options, prefix: "stream_options.", log: log).bool("include_usage") ?? false
        }
        return request
    }
}

/// The names of the fields a parse read (`CompletionRequest.fieldsRead`).
final class FieldLog {
    var names: [String] = []
}

/// Typed reads of a request object's fields, throwing the 400 that names the field.
struct Fields {
    let root: JSONValue
    var prefix = ""
    /// Where reads are recorded, if anywhere.
    var log: FieldLog?

    init(root: JSONValue, prefix: String = "", log: FieldLog? = nil) {
        self.root = root
        self.prefix = prefix
        self.log = log
    }

    func value(_ key: String) -> JSONValue? {
        log?.names.append(prefix + key)
        guard let v = root[key], v != .null else { return nil }
        return v
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw .wrongType(prefix + key, expected: "a string", got: v) }
        return s
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw .wrongType(prefix + key, expected: "a boolean", got: v) }
        return b
    }

    func integer(_ key: String, in range: ClosedRange<Int>? = nil) throws(APIError) -> Int? {
        guard let v = value(key) else { return nil }
        guard case .int(let i) = v else { throw .wrongType(prefix + key, expected: "an integer", got: v) }
        if let range, !range.contains(Int(i)) {
            throw .invalid("'\(prefix + key)' must be in \(range.lowerBound)...\(range.upperBound), not \(i)", param: prefix + key, code: "invalid_value")
        }
        return Int(i)
    }

    func number(_ key: String, in range: ClosedRange<Double>? = nil) throws(APIError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.numberValue, d.isFinite else { throw .wrongType(prefix + key, expected: "a number", got: v) }
        if let range, !range.contains(d) {
            throw .invalid("'\(prefix + key)' must be in \(range.lowerBound)...\(range.upperBound), not \(d)", param: prefix + key, code: "invalid_value")
        }
        return d
    }

    /// `stop`: a string or a list of up to `maxStopStrings` non-empty strings.
    func stop() throws(APIError) -> [String] {
        guard let v = value("stop") else { return [] }
        let list: [JSONValue]
        switch v {
        case .string: list = [v]
        case .array(let a): list = a
        default: throw .wrongType("stop", expected: "a string or a list of strings", got: v)
        }
        guard list.count <= CompletionRequest.maxStopStrings else {
            throw .invalid("at most \(CompletionRequest.maxStopStrings) stop strings", param: "stop", code: "invalid_value")
        }
        var out: [String] = []
        for (i, item) in list.enumerated() {
            guard case .string(let s) = item else { throw .wrongType("stop[\(i)]", expected: "a string", got: item) }
            guard !s.isEmpty else { throw .invalid("stop strings must not be empty", param: "stop[\(i)]", code: "invalid_value") }
            out.append(s)
        }
        return out
    }

    /// `prompt`: a string, a list of one string, or a list of token ids.
    func prompt() throws(APIError) -> CompletionRequest.Input {
        guard let v = value("prompt") else { throw .invalid("'prompt' is required", param: "prompt", code: "missing_field") }
        switch v {
        case .string(let s): return .text(s)
        case .array(let items):
            if items.count == 1, case .string(let s) = items[0] { return .text(s) }
            if items.allSatisfy({ $0.intValue != nil }) {
                guard !items.isEmpty, items.count <= CompletionRequest.maxPromptIds else {
                    throw .invalid("a prompt of token ids must hold 1...\(CompletionRequest.maxPromptIds) ids", param: "prompt", code: "invalid_value")
                }
                return .ids(items.map { Int($0.intValue!) })
            }
            if items.allSatisfy({ $0.stringValue != nil }) {
                throw .invalid("only one prompt per request is supported", param: "prompt", code: "unsupported_value")
            }
            throw .wrongType("prompt", expected: "a string, a list of one string or a list of token ids", got: v)
        default:
            throw .wrongType("prompt", expected: "a string, a list of one string or a list of token ids", got: v)
        }
    }

    /// `messages`: a non-empty list of `{role, content}`; content a string or a list of `{"type": "text", "text"}`
    /// parts (joined); role system, developer (read as system), user or assistant.
    func messages() throws(APIError) -> [CompletionRequest.ChatTurn] {
        guard let v = value("messages") else { throw .invalid("'messages' is required", param: "messages", code: "missing_field") }
        guard case .array(let items) = v else { throw .wrongType("messages", expected: "a list", got: v) }
        guard !items.isEmpty else { throw .invalid("'messages' must not be empty", param: "messages", code: "invalid_value") }
        var out: [CompletionRequest.ChatTurn] = []
        for (i, item) in items.enumerated() {
            let at = "messages[\(i)]"
            guard case .object = item else { throw .wrongType(at, expected: "an object", got: item) }
            let m = Fields(root: item, prefix: at + ".", log: log)
            guard var role = try m.string("role") else { throw .invalid("'\(at).role' is required", param: at + ".role", code: "missing_field") }
            if role == "developer" { role = "system" }
            guard ["system", "user", "assistant"].contains(role) else {
                throw .invalid("'\(at).role' must be system, developer, user or assistant, not '\(role)'", param: at + ".role", code: "invalid_value")
            }
            var text = ""
            switch m.value("content") {
            case nil: text = ""
            case .string(let s)?: text = s
            case .array(let parts)?:
                for (j, part) in parts.enumerated() {
                    let p = Fields(root: part, prefix: "\(at).content[\(j)].", log: log)
                    guard case .object = part, try p.string("type") == "text", let t = try p.string("text") else {
                        throw .invalid("'\(at).content[\(j)]' must be {\"type\": \"text\", \"text\": ...}: only text parts are supported",
                                       param: "\(at).content[\(j)]", code: "unsupported_value")
                    }
                    text += t
                }
            case let other?: throw .wrongType(at + ".content", expected: "a string or a list of text parts", got: other)
            }
            out.append(.init(role: role, content: text))
        }
        return out
    }

    /// `logprobs` / `top_logprobs`: how many alternatives to report with each token's log-probability, or nil for
    /// none. Completions: `logprobs` an integer 0...5. Chat: `logprobs` a boolean, `top_logprobs` 0...20 (above 0 it
    /// asks for log-probabilities even without `logprobs: true`, which OpenAI requires with it).
    func logprobs(endpoint: CompletionRequest.Endpoint) throws(APIError) -> Int? {
        switch endpoint {
        case .completions:
            if case .bool(false)? = value("logprobs") { return nil }
            guard let n = try integer("logprobs") else { return nil }
            guard (0...5).contains(n) else { throw .invalid("logprobs must be 0...5", param: "logprobs", code: "invalid_value") }
            return n
        case .chat:
            let asked = try bool("logprobs") ?? false
            let top = try integer("top_logprobs")
            if let top, !(0...20).contains(top) { throw .invalid("top_logprobs must be 0...20", param: "top_logprobs", code: "invalid_value") }
            return asked || (top ?? 0) > 0 ? (top ?? 0) : nil
        }
    }
}
