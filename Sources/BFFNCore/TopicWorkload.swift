/// A token workload of topics: what synthetic checkpoints are built for and what `bffn pack` calibrates with
/// when given no text.
///
/// The vocabulary is split into `topics` classes (token t belongs to topic t mod topics). A sequence is a
/// Markov chain over topics: it starts in a random topic and, before each further token, switches to a
/// uniformly random topic with probability `switchProbability`; each token is a uniformly random member of the
/// current topic. Synthetic routers activate a fixed random subset of experts per topic, so token-level
/// sparsity is set by the subset size and chunk-level sparsity by how often the topic changes.
public struct TopicWorkload: Sendable, Equatable {
    public var topics: Int
    public var switchProbability: Double
    public var vocabSize: Int
    public var seed: UInt64

    public init(topics: Int, switchProbability: Double, vocabSize: Int, seed: UInt64) {
        self.topics = topics
        self.switchProbability = switchProbability
        self.vocabSize = vocabSize
        self.seed = seed
    }

    /// The switch probability that gives chunk-level sparsity `cls8` over 8-token chunks when each topic
    /// activates a fraction 1 − `tls` of the experts: with m distinct topics in a chunk the inactive fraction is
    /// about tls^m, and m = 1 + Binomial(7, p), so CLS8 = tls · (1 − p(1 − tls))^7.
    public static func switchProbability(tls: Double, cls8: Double) -> Double {
        (1 - pow(cls8 / tls, 1.0 / 7)) / (1 - tls)
    }

    /// Sequence number `index` of `length` tokens (deterministic in seed and index).
    public func sequence(length: Int, index: Int = 0) -> [Int] {
        var rng = SplitMix64(seed: seed &+ 0x5EED_0000 &+ UInt64(index))
        var topic = rng.below(topics)
        var out: [Int] = []
        let perTopic = max(1, vocabSize / topics)
        for i in 0..<length {
            if i > 0 && rng.unit() < switchProbability { topic = rng.below(topics) }
            var t = topic + topics * rng.below(perTopic)
            if t >= vocabSize { t = topic }
            out.append(t)
        }
        return out
    }
}

