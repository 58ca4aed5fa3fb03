import BFFNCore
import BFFNEngine

/// Drafting with a smaller or cheaper model of the same vocabulary (for example the q4 pack of the target).
///
/// The draft model keeps its own KV cache of the context. Each step feeds the tokens it has not seen (at least the
/// root), then grows the tree level by level: every frontier node's `width` most likely next tokens become
/// candidates scored by cumulative log-probability, and the best ones within the node budget are kept (the
/// EAGLE-2 rule (keep the nodes of highest cumulative log-probability) with the draft model's own distribution). Levels below the first are
/// computed in one tree-masked call each.
public final class ModelDrafter: Drafter {
    public let name: String
    /// The engine running the draft model.
    public let engine: Engine
    /// The tokens in the draft engine's cache, as a plain chain.
    var cached: [Int] = []
    /// The draft model's weight bytes over the target's (set by `DrafterChoice`; 0 when unknown).
    public var relativeCost = 0.0

    /// The context tokens beyond the longest prefix already in the draft model's cache.
    public func pendingPositions(context: [Int]) -> Int { context.count - cachedPrefix(of: context) }

    /// How many leading tokens of `context` the draft model's cache already holds (never the last one, the root).
    func cachedPrefix(of context: [Int]) -> Int {
        var common = 0
        while common < min(cached.count, context.count - 1) && cached[common] == context[common] { common += 1 }
        return common
    }

    /// - Parameters:
    ///   - engine: an engine over the draft model.
    ///   - vocabularySize: the target's vocabulary size, which the draft model must share.
    ///   - name: the name in reports.
    /// - Throws: `.invalidConfig` when the vocabularies differ.
    public init(engine: Engine, vocabularySize: Int, name: String) throws {
        guard engine.weights.architecture.vocabSize == vocabularySize else {
            throw BFFNError(.invalidConfig, "the draft model's vocabulary (\(engine.weights.architecture.vocabSize)) differs from the target's (\(vocabularySize))",
                            field: "vocab_size")
        }
        self.engine = engine
        self.name = name
    }

    public func reset() {
        engine.reset()
        cached = []
    }

    public func draft(context: [Int], shape: DraftShape) throws -> DraftTree {
        let common = cachedPrefix(of: context)
        engine.truncate(to: common)
        let out = try engine.forward(Array(context[common...]), logits: .last)
        cached = context
        defer { engine.truncate(to: cached.count) }
        var tree = DraftTree()
        // Frontier: (tree node, its cache slot, its logits, cumulative log-probability).
        var frontier: [(node: Int, slot: Int, logits: ArraySlice<Float>, score: Double)] =
            [(-1, engine.length - 1, out.logits(at: context.count - common - 1), 0)]
        for level in 1...shape.depth {
            var candidates: [(parent: Int, slot: Int, token: Int, score: Double)] = []
            for f in frontier {
                for (token, logProb) in ModelDrafter.topLogProbabilities(f.logits, count: shape.width) {
                    candidates.append((f.node, f.slot, token, f.score + logProb))
                }
            }
            // Best first; ties keep the earlier candidate (stable sort).
            let ranked = candidates.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }.map(\.element)
            let kept = Array(ranked.prefix(shape.maxNodes - tree.count))
            if kept.isEmpty { break }
            let nodes = kept.map { tree.add($0.token, parent: $0.parent) }
            if level == shape.depth || tree.count >= shape.maxNodes { break }
            let next = try engine.forward(kept.map(\.token), parents: kept.map(\.slot))
            let first = engine.length - kept.count
            frontier = kept.indices.map { i in (nodes[i], first + i, next.logits(at: i), kept[i].score) }
        }
        return tree
    }

    /// The `count` largest logits as (token, log-probability), descending, ties to the lower id.
    static func topLogProbabilities(_ logits: ArraySlice<Float>, count: Int) -> [(Int, Double)] {
        let logZ = TransformerMath.logNormalizer(logits)
        return topPositions(logits, count: count).map { i in (i, Double(logits[logits.startIndex + i]) - logZ) }
    }
}
