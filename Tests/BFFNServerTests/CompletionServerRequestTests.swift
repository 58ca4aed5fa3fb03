import BFFNCore
@testable import BFFNServer
import Testing

/// `CompletionRequest.parse` on its own: fields the schema in docs/openapi.json refuses are 400s naming the field,
/// including cases scripts/fuzz-server-api.py found accepted.
@Suite("CompletionServer request parsing") struct CompletionServerRequestTests {
    static func parse(_ json: String, _ endpoint: CompletionRequest.Endpoint = .completions) -> Result<CompletionRequest, APIError> {
        Result { () throws(APIError) in try CompletionRequest.parse(Array(json.utf8), endpoint: endpoint, randomSeed: 1) }
    }

    static func expectError(_ json: String, _ endpoint: CompletionRequest.Endpoint = .completions, code: String, param: String?,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        switch parse(json, endpoint) {
        case .success: Issue.record("accepted: \(json)", sourceLocation: sourceLocation)
        case .failure(let e):
            #expect(e.status == 400 && e.code == code && e.param == param, "\(e)", sourceLocation: sourceLocation)
        }
    }

    /// max_tokens was not read at all when max_completion_tokens was given, so any value passed.
    @Test func maxTokensIsCheckedWhenMaxCompletionTokensWins() throws {
        Self.expectError(#"{"prompt": "x", "max_completion_tokens": 4, "max_tokens": "abc"}"#, code: "invalid_type", param: "max_tokens")
        Self.expectError(#"{"prompt": "x", "max_completion_tokens": 4, "max_tokens": 0}"#, code: "invalid_value", param: "max_tokens")
        Self.expectError(#"{"prompt": "x", "max_completion_tokens": 0, "max_tokens": 4}"#, code: "invalid_value", param: "max_completion_tokens")
        #expect(try Self.parse(#"{"prompt": "x", "max_completion_tokens": 4, "max_tokens": 9}"#).get().maxTokens == 4)
        #expect(try Self.parse(#"{"prompt": "x", "max_tokens": 9}"#).get().maxTokens == 9)
    }

    /// Log-probabilities in OpenAI's ranges: completions' logprobs 0...5 (false: none); chat's top_logprobs 0...20 with
    /// top_logprobs above 0 asking for them (top_logprobs took any negative number once).
    @Test func logprobsAreInOpenAIsRanges() throws {
        let messages = #""messages": [{"role": "user", "content": "x"}]"#
        Self.expectError(#"{\#(messages), "logprobs": true, "top_logprobs": -1}"#, .chat, code: "invalid_value", param: "top_logprobs")
        Self.expectError(#"{\#(messages), "logprobs": true, "top_logprobs": 21}"#, .chat, code: "invalid_value", param: "top_logprobs")
        #expect(try Self.parse(#"{\#(messages), "top_logprobs": 3}"#, .chat).get().settings.logprobs == 3)
        #expect(try Self.parse(#"{\#(messages), "top_logprobs": 0}"#, .chat).get().settings.logprobs == nil)
        Self.expectError(#"{\#(messages), "logprobs": 2}"#, .chat, code: "invalid_type", param: "logprobs")
        #expect(try Self.parse(#"{\#(messages), "logprobs": true, "top_logprobs": 3}"#, .chat).get().settings.logprobs == 3)
        #expect(try Self.parse(#"{\#(messages), "logprobs": true}"#, .chat).get().settings.logprobs == 0)
        #expect(try Self.parse(#"{\#(messages), "logprobs": false, "top_logprobs": null}"#, .chat).get().settings.logprobs == nil)
        Self.expectError(#"{"prompt": "x", "logprobs": -1}"#, code: "invalid_value", param: "logprobs")
        Self.expectError(#"{"prompt": "x", "logprobs": 6}"#, code: "invalid_value", param: "logprobs")
        #expect(try Self.parse(#"{"prompt": "x", "logprobs": 5}"#).get().settings.logprobs == 5)
        #expect(try Self.parse(#"{"prompt": "x", "logprobs": false}"#).get().settings.logprobs == nil)
    }

    /// An unknown field whose name is a known one plus an escaped NUL was read as the known one (json-c cuts keys at
    /// NUL): found by scripts/fuzz-server-api.py. Such keys are invalid_json now.
    @Test func aKeyWithAnEscapedNULIsNotReadAsAnother() {
        Self.expectError(#"{"prompt": "x", "max_tokens\u0000": "abc"}"#, code: "invalid_json", param: nil)
        Self.expectError(#"{"prompt": "x", "stream_options": {"include_usage\u0000": 5}}"#, code: "invalid_json", param: nil)
    }

    /// repeat_penalty 5e-324 (0 as a Float) made logits infinite and a subnormal temperature made 1 / T infinite; with
    /// min_p the sampler was left with no token and the generation thread trapped, taking the server down (a fuzz run
    /// saw the server die; sending the schema's extreme values found why). Such values are 400s now; the edges of the
    /// ranges are served.
    @Test func samplingValuesThatBreakTheArithmeticAreRefused() throws {
        Self.expectError(#"{"prompt": "x", "repeat_penalty": 5e-324}"#, code: "invalid_value", param: "repeat_penalty")
        Self.expectError(#"{"prompt": "x", "repeat_penalty": 0.0099}"#, code: "invalid_value", param: "repeat_penalty")
        Self.expectError(#"{"prompt": "x", "temperature": 5e-324}"#, code: "invalid_value", param: "temperature")
        Self.expectError(#"{"prompt": "x", "temperature": 9e-7}"#, code: "invalid_value", param: "temperature")
        for body in [#"{"prompt": "x", "temperature": 1e-6, "repeat_penalty": 0.01}"#, #"{"prompt": "x", "temperature": 0, "repeat_penalty": 100}"#] {
            #expect(throws: Never.self) { try Self.parse(body).get() }
        }
    }
}
