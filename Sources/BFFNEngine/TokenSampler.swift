import BFFNCore

/// How the next token is chosen: greedy (temperature 0, the default) or sampled from the softmax of the logits
/// divided by the temperature, restricted to the `topK` most likely tokens and then to the smallest set whose
/// probability reaches `topP` (docs/model.md, "Sampling").
public struct SamplingOptions: Sendable, Equatable {
    /// 0 for greedy decoding; otherwise the softmax temperature (> 0).
    public var temperature: Double
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int
    /// Keep the most likely tokens whose probabilities sum to at least this (1: all).
    public var topP: Double
    /// The random generator's seed: the same seed gives the same tokens.
    public var seed: UInt64

    /// Creates options; defaults are greedy decoding.
    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// Greedy decoding (argmax, ties to the lowest id).
    public static let greedy = SamplingOptions()
    /// Whether these options mean argmax.
    public var isGreedy: Bool { temperature == 0 }
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

    /// The sampling distribution of one row of logits (temperature, top-k, top-p), in double precision. For
    /// greedy options, all mass on the argmax.
    public func distribution(_ logits: ArraySlice<Float>) -> TokenDistribution {
        let base = logits.startIndex
        if options.isGreedy { return TokenDistribution(ids: [argmaxIndex(logits)], probabilities: [1]) }
        var candidates: [Int] = options.topK > 0 && options.topK < logits.count
            ? topPositions(logits, count: options.topK) : Array(0..<logits.count)
        let inverseT = 1 / options.temperature
        let maxLogit = candidates.map { Double(logits[base + $0]) }.max() ?? 0
        var weights = candidates.map { exp((Double(logits[base + $0]) - maxLogit) * inverseT) }
        var total = weights.reduce(0, +)
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
        let order = candidates.indices.sorted { candidates[$0] < candidates[$1] }
        return TokenDistribution(ids: order.map { candidates[$0] }, probabilities: order.map { weights[$0] / total })
    }

    /// A uniform draw in [0, 1).
    public mutating func uniform() -> Double { random.unit() }

    /// A token drawn from `distribution` (inverse CDF over ids in ascending order).
    public mutating func sample(from distribution: TokenDistribution) -> Int {
        if distribution.ids.count == 1 { return distribution.ids[0] }
        let u = random.unit()
        var cumulative = 0.0
        for (id, p) in zip(distribution.ids, distribution.probabilities) {
            cumulative += p
            if u < cumulative { return id }
        }
        return distribution.ids[distribution.ids.count - 1]
    }

    /// The next token for a row of logits: the argmax when greedy, else a draw.
    public mutating func next(_ logits: ArraySlice<Float>) -> Int {
        if options.isGreedy { return argmaxIndex(logits) }
        return sample(from: distribution(logits))
    }
}
