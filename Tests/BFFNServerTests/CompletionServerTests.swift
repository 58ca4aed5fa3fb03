import BFFN
import BFFNCore
@testable import BFFNServer
import BFFNTestSupport
import Testing

/// The HTTP server on the bundled model: request checking (400s in OpenAI's error shape), auth, the bounded queue
/// (429), clients that hang up (the slot is freed), and outputs that do not depend on what else runs.
@Suite("CompletionServer") struct CompletionServerTests {
    static func main() async throws -> Int { try await ServerFixture.shared.port("main") { $0.parallel = 2 } }

    /// An error reply has the status and OpenAI's `{"error": {message, type, param, code}}` with the code given.
    static func expectError(_ r: RawHTTPClient.Reply, _ status: Int, code: String?, param: String? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, "\(r.status) \(r.body)", sourceLocation: sourceLocation)
        guard let e = r.json?["error"] else { Issue.record("no error object: \(r.body)", sourceLocation: sourceLocation); return }
        #expect(e["message"]?.stringValue?.isEmpty == false && e["type"]?.stringValue != nil, sourceLocation: sourceLocation)
        #expect(e["param"] != nil && e["code"] != nil, "\(r.body)", sourceLocation: sourceLocation)
        if let code { #expect(e["code"]?.stringValue == code, "\(r.body)", sourceLocation: sourceLocation) }
        if let param { #expect(e["param"]?.stringValue == param, "\(r.body)", sourceLocation: sourceLocation) }
    }

    @Test func healthModelsAndAChat() async throws {
        let port = try await Self.main()
        let health = try await RawHTTPClient.send(port, "GET", "/health")
        #expect(health.status == 200 && health.json?["status"] == "ok")
        let models = try await RawHTTPClient.send(port, "GET", "/v1/models")
        #expect(models.json?["data"]?.arrayElements?.first?["id"] == "trained")
        Self.expectError(try await RawHTTPClient.send(port, "GET", "/v1/nothing"), 404, code: nil)
        let r = try await RawHTTPClient.post(port, "/v1/chat/completions",
                                             #"{"model": "anything", "messages": [{"role": "user", "content": "What is a list?"}], "max_tokens": 8, "temperature": 0, "unknown_field": {"x": 1}}"#)
        #expect(r.status == 200, "\(r.body)")
        let j = try #require(r.json)
        #expect(j["object"] == "chat.completion" && j["model"] == "trained" && j["id"]?.stringValue?.hasPrefix("chatcmpl-") == true)
        let choice = try #require(j["choices"]?.arrayElements?.first)
        #expect(choice["message"]?["role"] == "assistant" && choice["message"]?["content"]?.stringValue != nil)
        let usage = try #require(j["usage"])
        #expect(usage["completion_tokens"]?.intValue ?? 0 <= 8 && usage["total_tokens"]?.intValue == (usage["prompt_tokens"]?.intValue ?? 0) + (usage["completion_tokens"]?.intValue ?? 0))
        // The same request streamed: role first, the same text in pieces, a finish reason, [DONE].
        let s = try await RawHTTPClient.post(port, "/v1/chat/completions",
                                             #"{"messages": [{"role": "user", "content": "What is a list?"}], "max_tokens": 8, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}"#)
        #expect(s.status == 200 && s.header("content-type")?.hasPrefix("text/event-stream") == true)
        let events = s.body.components("\n\n").filter { !$0.isEmpty }
        #expect(events.last == "data: [DONE]")
        let chunks = events.dropLast().compactMap { try? JSONValue.parse(String($0.dropFirst(6))) }
        #expect(chunks.count == events.count - 1 && chunks.first?["choices"]?.arrayElements?.first?["delta"]?["role"] == "assistant")
        let text = chunks.compactMap { $0["choices"]?.arrayElements?.first?["delta"]?["content"]?.stringValue }.joined()
        #expect(text == choice["message"]?["content"]?.stringValue)
        #expect(chunks.last?["usage"] == usage && chunks.dropLast().last?["choices"]?.arrayElements?.first?["finish_reason"] == choice["finish_reason"])
    }

    @Test func badRequestsGetOpenAIShaped4xx() async throws {
        let port = try await Self.main()
        let chat = "/v1/chat/completions", completions = "/v1/completions"
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{"messages": [}"#), 400, code: "invalid_json")
        Self.expectError(try await RawHTTPClient.send(port, "POST", chat, body: Array(#"{"messages": [{"role": "user", "content": ""#.utf8) + [0xFF, 0xFE] + Array(#""}]}"#.utf8)), 400, code: "invalid_json")
        Self.expectError(try await RawHTTPClient.post(port, chat, "[1, 2]"), 400, code: "invalid_json")
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{"messages": "hi"}"#), 400, code: "invalid_type", param: "messages")
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{"messages": [{"role": "user", "content": 5}]}"#), 400, code: "invalid_type", param: "messages[0].content")
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{"messages": [{"role": "wizard", "content": "x"}]}"#), 400, code: "invalid_value", param: "messages[0].role")
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{"messages": []}"#), 400, code: "invalid_value")
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{}"#), 400, code: "missing_field", param: "messages")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "temperature": "hot"}"#), 400, code: "invalid_type", param: "temperature")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "temperature": 7}"#), 400, code: "invalid_value", param: "temperature")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "max_tokens": 99999999999999999999999}"#), 400, code: "invalid_json")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "max_tokens": 1e400}"#), 400, code: nil)
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "max_tokens": 2.5}"#), 400, code: "invalid_type", param: "max_tokens")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "max_tokens": 0}"#), 400, code: "invalid_value")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "max_tokens": 100000}"#), 400, code: "context_length_exceeded")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "n": 2}"#), 400, code: "unsupported_value", param: "n")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "logprobs": 6}"#), 400, code: "invalid_value", param: "logprobs")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "logprobs": true}"#), 400, code: "invalid_type", param: "logprobs")
        Self.expectError(try await RawHTTPClient.post(port, chat, #"{"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21}"#), 400, code: "invalid_value", param: "top_logprobs")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": "x", "stop": ["a", 3]}"#), 400, code: "invalid_type", param: "stop[1]")
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": [5, 99999]}"#), 400, code: "invalid_value", param: "prompt")
        let long = "[" + [String](repeating: "42", count: 600).joined(separator: ",") + "]"
        Self.expectError(try await RawHTTPClient.post(port, completions, #"{"prompt": \#(long)}"#), 400, code: "context_length_exceeded")
        let huge = #"{"prompt": ""# + String(repeating: "a", count: 1_100_000) + #""}"#
        Self.expectError(try await RawHTTPClient.post(port, completions, huge), 413, code: "request_too_large")
        // The server still answers.
        #expect(try await RawHTTPClient.post(port, completions, #"{"prompt": "def", "max_tokens": 2}"#).status == 200)
    }

    /// Log-probabilities in OpenAI's two shapes: one entry per generated token, the chosen token first among the
    /// alternatives for greedy text, the tokens spelling the text, and the same entries streamed as answered whole.
    @Test func logprobsInBothShapesStreamedOrNot() async throws {
        let port = try await Self.main()
        let body = #"{"prompt": "def add(a, b):", "max_tokens": 12, "temperature": 0, "ignore_eos": true, "logprobs": 3}"#
        let whole = try #require(try await RawHTTPClient.post(port, "/v1/completions", body).json?["choices"]?.arrayElements?.first)
        let lp = try #require(whole["logprobs"])
        let tokens = lp["tokens"]?.arrayElements?.compactMap(\.stringValue) ?? []
        let values = lp["token_logprobs"]?.arrayElements?.compactMap(\.numberValue) ?? []
        let tops = lp["top_logprobs"]?.arrayElements ?? []
        let offsets = lp["text_offset"]?.arrayElements?.compactMap(\.intValue) ?? []
        #expect(tokens.count == 12 && values.count == 12 && tops.count == 12 && offsets.count == 12)
        #expect(tokens.joined() == whole["text"]?.stringValue && offsets.first == 0 && values.allSatisfy { $0 <= 0 })
        for (i, top) in tops.enumerated() {
            // Greedy: the chosen token is the most likely one, so its value is the largest of the three.
            let best = top.objectMembers?.map { $0.value.numberValue ?? 1 }.max()
            #expect(top.objectMembers?.count ?? 0 <= 3 && best == values[i], "\(top)")
        }
        let streamed = try await RawHTTPClient.post(port, "/v1/completions", body.components(#""logprobs": 3"#).joined(separator: #""logprobs": 3, "stream": true"#))
        let chunks = streamed.body.components("\n\n").filter { $0.hasPrefix("data: {") }.compactMap { try? JSONValue.parse(String($0.dropFirst(6))) }
        let streamedValues = chunks.flatMap { $0["choices"]?.arrayElements?.first?["logprobs"]?["token_logprobs"]?.arrayElements?.compactMap(\.numberValue) ?? [] }
        #expect(streamedValues == values)
        let chat = try await RawHTTPClient.post(port, "/v1/chat/completions",
                                                #"{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "temperature": 0, "logprobs": true, "top_logprobs": 2}"#)
        let content = try #require(chat.json?["choices"]?.arrayElements?.first?["logprobs"]?["content"]?.arrayElements)
        #expect(Int64(content.count) == chat.json?["usage"]?["completion_tokens"]?.intValue)
        for item in content {
            let token = try #require(item["token"]?.stringValue)
            #expect(item["bytes"]?.arrayElements?.compactMap(\.intValue) == token.utf8.map(Int64.init))
            #expect(item["top_logprobs"]?.arrayElements?.count == 2 && item["top_logprobs"]?.arrayElements?.first?["logprob"] == item["logprob"])
        }
        // logprobs: true alone: each token's value, no alternatives.
        let bare = try await RawHTTPClient.post(port, "/v1/chat/completions",
                                                #"{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "logprobs": true}"#)
        #expect(bare.status == 200 && bare.json?["choices"]?.arrayElements?.first?["logprobs"]?["content"]?.arrayElements?.first?["top_logprobs"] == .array([]))
        // Not asked: null.
        let plain = try await RawHTTPClient.post(port, "/v1/completions", #"{"prompt": "x", "max_tokens": 2}"#)
        #expect(plain.json?["choices"]?.arrayElements?.first?["logprobs"] == .null)
    }

    @Test func apiKeyIsCheckedExceptForHealth() async throws {
        let port = try await ServerFixture.shared.port("key") { $0.apiKey = "sesame" }
        #expect(try await RawHTTPClient.send(port, "GET", "/health").status == 200)
        // The router ignores empty segments, so these reach /health too; they needed the key (the path was compared
        // as sent).
        #expect(try await RawHTTPClient.send(port, "GET", "/health/").status == 200)
        #expect(try await RawHTTPClient.send(port, "GET", "//health?x=1").status == 200)
        Self.expectError(try await RawHTTPClient.send(port, "GET", "/health/x"), 401, code: "invalid_api_key")
        Self.expectError(try await RawHTTPClient.send(port, "GET", "/v1/models"), 401, code: "invalid_api_key")
        Self.expectError(try await RawHTTPClient.send(port, "GET", "/v1/models", headers: ["Authorization": "Bearer sesam"]), 401, code: "invalid_api_key")
        Self.expectError(try await RawHTTPClient.post(port, "/v1/completions", #"{"prompt": "x"}"#, headers: ["Authorization": "Bearer open"]), 401, code: "invalid_api_key")
        #expect(try await RawHTTPClient.send(port, "GET", "/v1/models", headers: ["Authorization": "Bearer sesame"]).status == 200)
    }

    static let long = #"{"prompt": "def add(a, b):", "max_tokens": 480, "ignore_eos": true, "temperature": 0, "stream": true}"#
    static let short = #"{"prompt": "x", "max_tokens": 2}"#

    /// The test holds the server's only slot itself (through its slot pool), so the server is busy for exactly as long
    /// as the test needs, however slowly the machine runs: a racing generation made this test depend on timing.
    @Test func aFullQueueIsRefusedAndAWaitTimesOut() async throws {
        let full = try await ServerFixture.shared.port("queue0") { $0.maxQueue = 0 }
        let fullServer = try #require(await ServerFixture.shared.server("queue0"))
        var slot = try await fullServer.pool.acquire()
        #expect(fullServer.metrics.text.contains("bffn_slots_busy 1"))
        let refused = try await RawHTTPClient.post(full, "/v1/completions", Self.short)
        Self.expectError(refused, 429, code: "queue_full")
        #expect(refused.header("retry-after") == "1")
        await fullServer.pool.release(slot)
        #expect(try await RawHTTPClient.post(full, "/v1/completions", Self.short).status == 200)

        // One place in the queue, a 0.2 s wait at most: the waiter leaves with queue_timeout, no sooner.
        let timed = try await ServerFixture.shared.port("timeout") { $0.maxQueue = 1; $0.queueTimeoutSeconds = 0.2 }
        let timedServer = try #require(await ServerFixture.shared.server("timeout"))
        slot = try await timedServer.pool.acquire()
        let start = ContinuousClock.now
        Self.expectError(try await RawHTTPClient.post(timed, "/v1/completions", Self.short), 429, code: "queue_timeout")
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        #expect(timedServer.metrics.text.contains("bffn_queue_length 0"))
        await timedServer.pool.release(slot)

        // A waiter within its time gets the slot as soon as it is released, and is answered.
        let patient = try await ServerFixture.shared.port("queue1") { $0.maxQueue = 1; $0.queueTimeoutSeconds = 600 }
        let patientServer = try #require(await ServerFixture.shared.server("queue1"))
        slot = try await patientServer.pool.acquire()
        let waiter = Task { try await RawHTTPClient.post(patient, "/v1/completions", Self.short) }
        try await Self.waitFor(patientServer, "bffn_queue_length 1")
        Self.expectError(try await RawHTTPClient.post(patient, "/v1/completions", Self.short), 429, code: "queue_full")
        await patientServer.pool.release(slot)
        #expect(try await waiter.value.status == 200)
    }

    /// Waits until the server's metrics contain `line`, and fails the test if they never do (within about 60 s).
    static func waitFor(_ server: CompletionServer, _ line: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !server.metrics.text.contains(line) {
            guard ContinuousClock.now < deadline else {
                Issue.record("never saw \(line):\n\(server.metrics.text)", sourceLocation: sourceLocation)
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func aClientThatHangsUpFreesItsSlot() async throws {
        let port = try await ServerFixture.shared.port("hangup") { $0.maxQueue = 0 }
        let server = try #require(await ServerFixture.shared.server("hangup"))
        func completionTokens() -> Int {
            Int(server.metrics.text.components("\n").first { $0.hasPrefix("bffn_completion_tokens_total ") }?.dropFirst(29) ?? "") ?? -1
        }
        // A chat stream's first event (the role) is written before the prompt is read: the client hangs up on it. The
        // non-streaming client hangs up as soon as its request is sent.
        let chat = #"{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 480, "ignore_eos": true, "temperature": 0, "stream": true}"#
        var stoppedEarly = 0
        for stream in [true, false] {
            let before = completionTokens()
            _ = try await RawHTTPClient.sendAndHangUp(port, stream ? "/v1/chat/completions" : "/v1/completions",
                                                      stream ? chat : Self.long.replacingStream(), after: stream ? 1 : 0)
            // The slot comes back before 480 tokens are generated, and a new request gets it.
            var freed = false
            for _ in 0..<4000 {
                if server.metrics.text.contains("bffn_slots_busy 0") && server.metrics.text.contains("bffn_queue_length 0") { freed = true; break }
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(freed, "stream: \(stream)")
            // A new request gets the slot (retried briefly: on a starved machine the freed slot's bookkeeping can trail
            // the metrics by a scheduling turn).
            var statuses: [Int] = []
            for _ in 0..<50 {
                let status = try await RawHTTPClient.post(port, "/v1/completions", #"{"prompt": "x", "max_tokens": 2}"#).status
                statuses.append(Int(status))
                if status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(statuses.last == 200, "stream: \(stream), statuses \(statuses)")
            stoppedEarly += completionTokens() - before < 480 + 2 ? 1 : 0
        }
        // How soon a hang-up is seen is a matter of timing: when the whole suite starves this process, one generation
        // may end before the server's event loop reads the close. Both ending is what must not happen.
        #expect(stoppedEarly >= 1, "\(server.metrics.text)")
    }

    /// With two slots, requests run concurrently give exactly the tokens they give alone (greedy and seeded).
    @Test func concurrentRequestsGiveTheirSoloOutputs() async throws {
        let port = try await Self.main()
        let bodies = ["def add(a, b):", "The list type", "import os", "class Tree:"].enumerated().map { i, p in
            #"{"prompt": "\#(p)", "max_tokens": 24, "temperature": \#(i % 2 == 0 ? "0" : "0.9"), "seed": \#(i + 3), "ignore_eos": true}"#
        }
        var solo: [String] = []
        for b in bodies { solo.append(try await RawHTTPClient.post(port, "/v1/completions", b).body) }
        let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, b) in bodies.enumerated() { group.addTask { (i, try await RawHTTPClient.post(port, "/v1/completions", b).body) } }
            var out = [String](repeating: "", count: bodies.count)
            for try await (i, text) in group { out[i] = text }
            return out
        }
        func texts(_ replies: [String]) -> [String?] { replies.map { try? JSONValue.parse($0)["choices"]?.arrayElements?.first?["text"]?.stringValue ?? nil } }
        #expect(texts(solo).allSatisfy { ($0?.count ?? 0) > 0 })
        #expect(texts(solo) == texts(together))
        // The two slots share one batched model, whose calls the metrics count.
        let metrics = try #require(await ServerFixture.shared.server("main")).metrics.text
        func value(_ name: String) -> Int? { metrics.components("\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.dropFirst(name.count + 1)) } }
        let steps = try #require(value("bffn_batch_steps_total")), sequences = try #require(value("bffn_batch_sequences_total"))
        #expect(steps > 0 && sequences >= steps, "\(metrics)")
    }
}

extension String {
    func replacingStream() -> String { components(#""stream": true"#).joined(separator: #""stream": false"#) }
}
