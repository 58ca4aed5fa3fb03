import BFFNCore

/// A chosen token's log-probability, and the most likely tokens at its position, under the model's distribution
/// there: the log-softmax of the logits that predicted it after the repeat penalty (the sampler's first step), at
/// temperature 1 and before top-k, top-p and min-p (docs/server.md, "Log-probabilities"). Computed in double
/// precision, so the same logits give the same numbers.
public struct TokenLogprob: Sendable, Equatable {
    /// One candidate token and its log-probability (natural log).
    public struct Candidate: Sendable, Equatable {
        /// The token id.
        public var id: Int
        /// Its log-probability, ≤ 0.
        public var logprob: Double
    }

    /// The chosen id.
    public var id: Int
    /// The chosen id's log-probability (natural log, ≤ 0).
    public var logprob: Double
    /// The most likely ids at this position, most likely first (ties: the lower id first); as many as asked.
    public var top: [Candidate]

    /// The log-probabilities at a position whose logits are `logits` (one row of V), with `sampling`'s repeat penalty
    /// after `history`, for the chosen `id`, with the `top` most likely alternatives (0...V).
    public init(id: Int, logits: ArraySlice<Float>, sampling: SamplingOptions, history: [Int], top: Int) {
        let row = TokenSampler(sampling).penalised(logits, history: history)
        var largest = -Double.infinity
        for v in row where Double(v) > largest { largest = Double(v) }
        var sum = 0.0
        for v in row { sum += exp(Double(v) - largest) }
        let logSum = largest + log(sum)
        func logprob(_ i: Int) -> Double { min(0, Double(row[i]) - logSum) }
        self.id = id
        self.logprob = id >= 0 && id < row.count ? logprob(id) : -.infinity
        self.top = topPositions(row, count: max(0, min(top, row.count))).map { Candidate(id: $0, logprob: logprob($0)) }
    }
}

extension TokenLogprob {
    /// `{"id", "logprob", "top": [{"id", "logprob"}, ...]}` (docs/json.md, "generate").
    public var json: JSONValue {
        .object([("id", .integer(id)), ("logprob", .double(logprob)),
                 ("top", .array(top.map { .object([("id", .integer($0.id)), ("logprob", .double($0.logprob))]) }))])
    }
}
