import BFFNCore
@testable import BFFNServer
import Testing

/// `CompletionRequest.parse` on its own: fields the schema in docs/openapi.json refuses are 400s naming the field,
/// including cases scripts/fuzz-server-api.py found accepted.
@Suite("CompletionServer request parsing") struct CompletionServerRequestTests {
    static func parse(_ json: String, _ endpoint: CompletionRequest.Endpoint = .completions) -> Result<CompletionRequest, APIError> {
        Result { () throws(APIError) in try CompletionRequest.parse(Array(json.utf8), endpoint: endpoint, randomSeed: 1) }
    }

    static func expectError(_ json: String, code: String, param: String?, sourceLocation: SourceLocation = #_sourceLocation) {
        switch parse(json) {
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

    /// top_logprobs took any negative number.
    @Test func topLogprobsIsInOpenAIsRange() throws {
        Self.expectError(#"{"prompt": "x", "top_logprobs": -1}"#, code: "invalid_value", param: "top_logprobs")
        Self.expectError(#"{"prompt": "x", "top_logprobs": 21}"#, code: "invalid_value", param: "top_logprobs")
        Self.expectError(#"{"prompt": "x", "top_logprobs": 3}"#, code: "unsupported_value", param: "top_logprobs")
        #expect(throws: Never.self) { try Self.parse(#"{"prompt": "x", "top_logprobs": 0, "logprobs": false}"#).get() }
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
