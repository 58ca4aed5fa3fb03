import BFFN
import Synchronization

/// The server's counters, written as Prometheus text for `GET /metrics` (docs/server.md, "Metrics").
///
/// A handful of numbers under one mutex: requests by endpoint and outcome, tokens, slots and queue, time to first
/// token (a histogram), decode time, and what speculative decoding accepted.
public final class ServerMetrics: Sendable {
    struct State {
        var requests: [String: Int] = [:]
        var responses: [String: Int] = [:]
        var promptTokens = 0
        var completionTokens = 0
        var busySlots = 0
        var queueLength = 0
        var firstTokenBuckets = [Int](repeating: 0, count: ServerMetrics.firstTokenBounds.count)
        var firstTokenCount = 0
        var firstTokenSum = 0.0
        var decodeSeconds = 0.0
        var decodedTokens = 0
        var cancelled = 0
        var speculativeSteps = 0
        var speculativeTokens = 0.0
        var connections = 0
        var refusedConnections = 0
    }

    /// Upper bounds (seconds) of the time-to-first-token histogram's buckets.
    static let firstTokenBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    private let state = Mutex(State())
    let slots: Int
    /// The shared model's batch figures (`BlockFFNModel.batchStatistics`); nil when slots are not batched.
    let batchStatistics: @Sendable () -> (steps: Int, sequenceSteps: Int)?

    init(slots: Int, batchStatistics: @escaping @Sendable () -> (steps: Int, sequenceSteps: Int)? = { nil }) {
        self.slots = slots
        self.batchStatistics = batchStatistics
    }

    func request(_ endpoint: String) { state.withLock { $0.requests[endpoint, default: 0] += 1 } }
    func response(status: Int) { state.withLock { $0.responses[String(status), default: 0] += 1 } }
    func slotTaken() { state.withLock { $0.busySlots += 1 } }
    func slotReleased() { state.withLock { $0.busySlots -= 1 } }
    func setQueueLength(_ n: Int) { state.withLock { $0.queueLength = n } }

    /// Counts a new connection if fewer than `limit` are open (true), else counts it refused (false).
    func admitConnection(limit: Int) -> Bool {
        state.withLock { s in
            guard s.connections < limit else {
                s.refusedConnections += 1
                return false
            }
            s.connections += 1
            return true
        }
    }

    /// An admitted connection has closed.
    func connectionClosed() { state.withLock { $0.connections -= 1 } }

    func firstToken(after seconds: Double) {
        state.withLock { s in
            s.firstTokenCount += 1
            s.firstTokenSum += seconds
            for (i, bound) in Self.firstTokenBounds.enumerated() where seconds <= bound { s.firstTokenBuckets[i] += 1 }
        }
    }

    /// Counts a finished generation: its tokens, decode time and speculative steps.
    func finished(_ g: Generation) {
        state.withLock { s in
            s.promptTokens += g.promptIds.count
            s.completionTokens += g.generatedIds.count
            if g.stopReason == .cancelled { s.cancelled += 1 }
            let decoded = g.generatedIds.count - 1
            if decoded > 0 && g.decodeTokensPerSecond > 0 {
                s.decodedTokens += decoded
                s.decodeSeconds += Double(decoded) / g.decodeTokensPerSecond
            }
            if let spec = g.speculative {
                s.speculativeSteps += spec.steps
                s.speculativeTokens += spec.meanAcceptLength * Double(spec.steps)
            }
        }
    }

    /// The Prometheus text exposition (version 0.0.4).
    public var text: String {
        let s = state.withLock { $0 }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(value)\n" }
        }
        func number(_ d: Double) -> String { d.isFinite ? "\(d)" : "NaN" }
        metric("bffn_requests_total", "counter", "Generation requests received, by endpoint.",
               s.requests.sorted { $0.key < $1.key }.map { ("{endpoint=\"\($0.key)\"}", "\($0.value)") })
        metric("bffn_responses_total", "counter", "Responses sent by the generation endpoints, by HTTP status.",
               s.responses.sorted { $0.key < $1.key }.map { ("{status=\"\($0.key)\"}", "\($0.value)") })
        metric("bffn_prompt_tokens_total", "counter", "Prompt tokens of finished generations.", [("", "\(s.promptTokens)")])
        metric("bffn_completion_tokens_total", "counter", "Generated tokens of finished generations.", [("", "\(s.completionTokens)")])
        metric("bffn_cancelled_total", "counter", "Generations stopped because the client went away.", [("", "\(s.cancelled)")])
        metric("bffn_slots", "gauge", "Generation slots (--parallel).", [("", "\(slots)")])
        metric("bffn_slots_busy", "gauge", "Slots generating now.", [("", "\(s.busySlots)")])
        metric("bffn_queue_length", "gauge", "Requests waiting for a slot.", [("", "\(s.queueLength)")])
        metric("bffn_connections", "gauge", "Client connections open now.", [("", "\(s.connections)")])
        metric("bffn_connections_refused_total", "counter", "Connections closed at once because --max-connections were open.",
               [("", "\(s.refusedConnections)")])
        var buckets: [(String, String)] = []
        for (i, bound) in Self.firstTokenBounds.enumerated() { buckets.append(("_bucket{le=\"\(bound)\"}", "\(s.firstTokenBuckets[i])")) }
        buckets += [("_bucket{le=\"+Inf\"}", "\(s.firstTokenCount)"), ("_sum", number(s.firstTokenSum)), ("_count", "\(s.firstTokenCount)")]
        metric("bffn_time_to_first_token_seconds", "histogram", "From the request's arrival to its first generated text.", buckets)
        metric("bffn_decode_tokens_total", "counter", "Tokens generated after the first (decode steps).", [("", "\(s.decodedTokens)")])
        metric("bffn_decode_seconds_total", "counter", "Seconds spent decoding those tokens.", [("", number(s.decodeSeconds))])
        metric("bffn_decode_tokens_per_second", "gauge", "Decode tokens per second over all generations so far.",
               [("", number(s.decodeSeconds > 0 ? Double(s.decodedTokens) / s.decodeSeconds : 0))])
        metric("bffn_speculative_steps_total", "counter", "Speculative verification steps.", [("", "\(s.speculativeSteps)")])
        metric("bffn_speculative_tokens_total", "counter", "Tokens emitted by speculative steps (accepted drafts plus one each).",
               [("", number(s.speculativeTokens))])
        metric("bffn_speculative_accept_length", "gauge", "Mean tokens emitted per speculative step.",
               [("", number(s.speculativeSteps > 0 ? s.speculativeTokens / Double(s.speculativeSteps) : 0))])
        if let batch = batchStatistics() {
            metric("bffn_batch_steps_total", "counter", "Forward calls of the slots' shared batch.", [("", "\(batch.steps)")])
            metric("bffn_batch_sequences_total", "counter", "Sequences that got a token from those calls, summed over them.",
                   [("", "\(batch.sequenceSteps)")])
            metric("bffn_batch_mean_sequences", "gauge", "Mean sequences decoded per forward call.",
                   [("", number(batch.steps > 0 ? Double(batch.sequenceSteps) / Double(batch.steps) : 0))])
        }
        return out
    }
}
