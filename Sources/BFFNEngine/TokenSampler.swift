import BFFNCore

/// How the next token is chosen: greedy (temperature 0, the default) or sampled (docs/model.md, "Sampling").
///
/// The order, as transformers applies its logits processors: (1) the repeat penalty rewrites the logits of the
/// tokens seen in the last `repeatLastN` positions; (2) the softmax of the logits divided by the temperature;
/// (3) `topK` keeps the k most likely tokens; (4) `topP` keeps the smallest most-likely set whose probability
/// reaches it; (5) `minP` keeps the tokens whose probability is at least `minP` times the most likely one's;
/// the rest is renormalised. Greedy decoding is the argmax of the penalised logits (min-p, top-k and top-p
/// never remove the argmax).
public struct SamplingOptions: Sendable, Equatable {
    /// 0 for greedy decoding; otherwise the softmax temperature (> 0).
    public var temperature: Double
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int
    /// Keep the most likely tokens whose probabilities sum to at least this (1: all).
    public var topP: Double
    /// The random generator's seed: the same seed gives the same tokens.
    public var seed: UInt64
    /// The repeat penalty P of llama.cpp and CTRL (Keskar et al. 2019): the logit l of every distinct token among
    /// the last `repeatLastN` tokens of the sequence (prompt and generated) becomes l / P when l > 0, else l x P.
    /// 1 (the default) disables it; values > 1 discourage repeats.
    public var repeatPenalty: Double
    /// How many of the last tokens the repeat penalty looks at (64 by default; 0: none; -1: the whole sequence).
    public var repeatLastN: Int
    /// Keep only tokens whose probability is at least this fraction of the most likely token's (0, the default:
    /// all). Applied after top-k and top-p, on the temperature-scaled probabilities.
    public var minP: Double

    /// Creates options; defaults are greedy decoding without penalties.
    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0,
                repeatPenalty: Double = 1, repeatLastN: Int = 64, minP: Double = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.minP = minP
    }

    /// Greedy decoding (argmax, ties to the lowest id).
    public static let greedy = SamplingOptions()
    /// Whether these options mean argmax.
    public var isGreedy: Bool { temperature == 0 }
    /// Whether the repeat penalty changes any logit (a penalty other than 1 over a window of at least one token):
    /// then the choice at a position depends on the tokens before it.
    public var penalisesRepeats: Bool { repeatPenalty != 1 && repeatLastN != 0 }
}

/// A token distribution restricted to its support: ids ascending, probabilities summing to 1.
public struct TokenDistribution: Sendable {
    public var ids: [Int]
    public var probabilities: [Double]

    /// The probability of `id` (0 outside the support).
    public func probability(of id: Int) -> Double {
        guard let i = index(of: id) else { return 0 }
        return probabilities[i]
    }

    func index(of id: Int) -> Int? {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < ids.count && ids[lo] == id ? lo : nil
    }

    /// The distribution with `id` removed and the rest renormalised (the residual after a rejected draft token
    /// whose draft probability was 1: max(0, p - q) normalised). Unchanged when nothing else is left.
    public func removing(_ id: Int) -> TokenDistribution {
        guard let i = index(of: id), probabilities.count > 1 else { return self }
        let rest = 1 - probabilities[i]
        guard rest > 0 else { return self }
        var out = self
        out.ids.remove(at: i)
        out.probabilities.remove(at: i)
        out.probabilities = out.probabilities.map { $0 / rest }
        return out
    }
}

/// Draws tokens as `SamplingOptions` say, deterministically from its seed (SplitMix64, one draw per token).
public struct TokenSampler: Sendable {
    public let options: SamplingOptions
    private var random: SplitMix64

    /// A sampler seeded with `options.seed`.
    public init(_ options: SamplingOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed ^ 0x5EED_5A3B_1E00_0001)
    }

    /// `logits` with the repeat penalty applied for a sequence ending in `history` (prompt and generated tokens
    /// before the position the logits predict): the logit l of each distinct id among the last `repeatLastN` ids
    /// becomes l / P when l > 0, else l x P (in float32, as llama.cpp). Ids outside the row are ignored.
    public func penalised(_ logits: ArraySlice<Float>, history: [Int]) -> [Float] {
        var row = Array(logits)
        guard options.penalisesRepeats else { return row }
        let window = options.repeatLastN < 0 ? history[...] : history.suffix(options.repeatLastN)
        let p = Float(options.repeatPenalty)
        var seen = Set<Int>()
        for id in window where id >= 0 && id < row.count && seen.insert(id).inserted {
            row[id] = row[id] > 0 ? row[id] / p : row[id] * p
        }
        return row
    }

    /// The argmax of the penalised logits (ties to the lowest id): the greedy choice after `history`.
    public func argmax(_ logits: ArraySlice<Float>, history: [Int] = []) -> Int {
        options.penalisesRepeats ? argmaxIndex(penalised(logits, history: history)[...]) : argmaxIndex(logits)
    }

    /// The sampling distribution of one row of logits after `history` (repeat penalty, temperature, top-k,
    /// top-p, min-p, in that order), in double precision. For greedy options, all mass on the (penalised) argmax.
    public func distribution(_ logits: ArraySlice<Float>, history: [Int] = []) -> TokenDistribution {
        if options.penalisesRepeats { return distributionOfRow(penalised(logits, history: history)[...]) }
        return distributionOfRow(logits)
    }

    private func distributionOfRow(_ logits: ArraySlice<Float>) -> TokenDistribution {
        let base = logits.startIndex
        if options.isGreedy { return TokenDistribution(ids: [argmaxIndex(logits)], probabilities: [1]) }
        var candidates: [Int] = options.topK > 0 && options.topK < logits.count
            ? topPositions(logits, count: options.topK) : Array(0..<logits.count)
        let inverseT = 1 / options.temperature
        let maxLogit = candidates.map { Double(logits[base + $0]) }.max() ?? 0
        var weights = candidates.map { exp((Double(logits[base + $0]) - maxLogit) * inverseT) }
        var total = weights.reduce(0, +)
        // Logits that are not finite (an overflowing penalty) or a temperature whose inverse overflows leave no
        // distribution to draw from: the limit of sampling as the temperature goes to 0, the argmax, is taken.
        guard total.isFinite && total > 0 && !weights.contains(where: \.isNaN) else {
            return TokenDistribution(ids: [argmaxIndex(logits)], probabilities: [1])
        }
        if options.topP < 1 {
            // Most likely first (ties: lower id first), then the shortest prefix reaching topP.
            let order = candidates.indices.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : candidates[$0] < candidates[$1] }
            var kept: [Int] = [], sum = 0.0
            for k in order {
                kept.append(k)
                sum += weights[k]
                if sum >= options.topP * total { break }
            }
            candidates = kept.map { candidates[$0] }
            weights = kept.map { weights[$0] }
            total = sum
        }
        if options.minP > 0 {
            // The most likely token keeps weight exp(0) = 1 through top-k and top-p; the threshold is relative to it.
            let threshold = options.minP * (weights.max() ?? 1)
            let kept = weights.indices.filter { weights[$0] >= threshold }
            candidates = kept.map { candidates[$0] }
            weights = kept.map { weights[$0] }
            total = weights.reduce(0, +)
        }
        let order = candidates.indices.sorted { candidates[$0] < candidates[$1] }
        return TokenDistribution(ids: order.map { candidates[$0] }, probabilities: order.map { weights[$0] / total })
    }

    /// A uniform draw in [0, 1).
    public mutating func uniform() -> Double { random.unit() }

    /// A token drawn from `distribution` (inverse CDF over ids in ascending order).
    public mutating func sample(from distribution: TokenDistribution) -> Int {
        if distribution.ids.count <= 1 { return distribution.ids.first ?? 0 }
        let u = random.unit()
        var cumulative = 0.0
        for (id, p) in zip(distribution.ids, distribution.probabilities) {
            cumulative += p
            if u < cumulative { return id }
        }
        return distribution.ids[distribution.ids.count - 1]
    }

    /// The next token for a row of logits after `history` (the prompt and the tokens generated before it; only
    /// read by the repeat penalty): the argmax when greedy, else a draw.
    public mutating func next(_ logits: ArraySlice<Float>, history: [Int] = []) -> Int {
        if options.isGreedy { return argmax(logits, history: history) }
        return sample(from: distribution(logits, history: history))
    }
}
