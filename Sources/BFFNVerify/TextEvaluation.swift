import BFFNCore
import BFFNEngine

/// Perplexity of a model and of its reference on a text, and the KL divergence between them per token: the
/// figures quantizations are compared by (the same ones llama.cpp's `llama-perplexity --kl-divergence` prints).
///
/// The text's ids are cut into consecutive, non-overlapping windows of `context` tokens (each starting with
/// bos when `bos` is given, so a window holds bos and `context - 1` text tokens). Each window runs from an empty
/// cache; the logits of its second half (positions `context / 2` ... `context - 2`) score the next token, the
/// first half serving as context only. A text shorter than one window is one window of all its tokens.
public struct TextEvaluation: Sendable {
    /// Text tokens, windows, the window length, and positions scored.
    public var textTokens = 0, windows = 0, context = 0, scored = 0
    /// Summed negative log-likelihoods (nats) of the next token under the model and the reference.
    public var modelNLL = 0.0, referenceNLL = 0.0
    /// KL(reference ‖ model) of every scored position, in nats, in order.
    public var kld: [Double] = []
    /// Positions where both put their largest logit on the same token.
    public var sameTop1 = 0

    /// exp(mean negative log-likelihood) of the model and of the reference.
    public var perplexity: Double { exp(modelNLL / Double(max(scored, 1))) }
    public var referencePerplexity: Double { exp(referenceNLL / Double(max(scored, 1))) }
    /// The model's perplexity over the reference's.
    public var perplexityRatio: Double { perplexity / referencePerplexity }
    /// The share of positions with the same top-1 token.
    public var sameTop1Fraction: Double { Double(sameTop1) / Double(max(scored, 1)) }
    public var meanKLD: Double { kld.reduce(0, +) / Double(max(kld.count, 1)) }
    /// The KL divergence at quantile `q` (nearest rank: the smallest value with at least q of them at or below it).
    public func kldQuantile(_ q: Double) -> Double {
        guard !kld.isEmpty else { return 0 }
        let sorted = kld.sorted()
        let rank = max(Int((q * Double(sorted.count)).rounded(.up)), 1)
        return sorted[min(rank, sorted.count) - 1]
    }

    /// Runs both engines over `tokens` as described above.
    /// - Throws: `.usage` when there are fewer than 2 tokens or `context` is below 4; the engines' errors.
    public static func run(model: Engine, reference: Engine, tokens: [Int], context: Int, bos: Int?,
                           progress: ((Int, Int) -> Void)? = nil) throws -> TextEvaluation {
        guard context >= 4 else { throw BFFNError(.usage, "the evaluation context must be at least 4 tokens", field: "context") }
        guard tokens.count >= 2 else { throw BFFNError(.usage, "the text must encode to at least 2 tokens", field: "text") }
        var result = TextEvaluation()
        result.textTokens = tokens.count
        let body = bos == nil ? context : context - 1
        var windows: [[Int]] = stride(from: 0, to: tokens.count, by: body).map { start in
            (bos.map { [$0] } ?? []) + tokens[start..<min(tokens.count, start + body)]
        }
        // A short last window would score little: keep only full windows, unless there is just one.
        if windows.count > 1 && windows[windows.count - 1].count < context { windows.removeLast() }
        result.windows = windows.count
        result.context = min(context, windows[0].count)
        let V = model.weights.architecture.vocabSize
        for (w, window) in windows.enumerated() {
            model.reset()
            reference.reset()
            let mine = try model.forward(window), theirs = try reference.forward(window)
            let first = window.count / 2
            for t in first..<(window.count - 1) {
                let lm = TransformerMath.logSoftmax(mine.logits(at: t)), lr = TransformerMath.logSoftmax(theirs.logits(at: t))
                let next = window[t + 1]
                result.modelNLL -= lm[next]
                result.referenceNLL -= lr[next]
                var kl = 0.0, bestM = 0, bestR = 0
                for v in 0..<V {
                    let pr = exp(lr[v])
                    if pr > 0 { kl += pr * (lr[v] - lm[v]) }
                    if lm[v] > lm[bestM] { bestM = v }
                    if lr[v] > lr[bestR] { bestR = v }
                }
                result.kld.append(max(kl, 0))
                if bestM == bestR { result.sameTop1 += 1 }
                result.scored += 1
            }
            progress?(w + 1, windows.count)
        }
        return result
    }

    /// The figures as JSON (`bffn verify --text`, key `text`).
    public var json: JSONValue {
        .object([
            ("text_tokens", .integer(textTokens)), ("windows", .integer(windows)), ("context", .integer(context)),
            ("scored_tokens", .integer(scored)),
            ("perplexity", .double(perplexity)), ("reference_perplexity", .double(referencePerplexity)),
            ("perplexity_ratio", .double(perplexityRatio)),
            ("kld_mean", .double(meanKLD)), ("kld_median", .double(kldQuantile(0.5))), ("kld_p99", .double(kldQuantile(0.99))),
            ("kld_p99_9", .double(kldQuantile(0.999))), ("kld_max", .double(kld.max() ?? 0)),
            ("same_top1", .double(sameTop1Fraction)),
        ])
    }

    /// The figures as report lines.
    public var text: String {
        """
        text        \(textTokens) tokens, \(windows) windows of \(context), \(scored) scored (second half of each window)
        perplexity  model \(format(perplexity)), reference \(format(referencePerplexity)), ratio \(format(perplexityRatio))
        KLD         mean \(format(meanKLD)), median \(format(kldQuantile(0.5))), 99 % \(format(kldQuantile(0.99))), 99.9 % \(format(kldQuantile(0.999))), max \(format(kld.max() ?? 0))
        same top-1  \(fixed(sameTop1Fraction * 100, 2)) %

        """
    }

    private func format(_ x: Double) -> String {
        if x == 0 { return "0" }
        if abs(x) >= 0.01 && abs(x) < 1e5 {
            let scaled = (x * 10000).rounded() / 10000
            return "\(scaled)"
        }
        return TextNumber.short(x)
    }
}
