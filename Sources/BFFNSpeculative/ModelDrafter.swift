import BFFNCore
import BFFNEngine

/// Drafting with a smaller or cheaper model of the same vocabulary (for example the q4 pack of the target).
///
/// The draft model keeps its own KV cache of the context. Each step feeds the tokens it has not seen (at least the
/// root), then grows the tree level by level: every frontier node's `width` most likely next tokens become
/// candidates scored by cumulative log-probability, and the best ones within the node budget are kept (the
/// EAGLE-2 rule (keep the nodes of highest cumulative log-probability) with the draft model's own distribution). Levels below the first are
/// computed in one tree-masked call each.
///
/// The draft's nodes stay in the draft model's cache until the next step: the draft tokens the target accepted
/// were computed there already (the engine is batch-invariant, so a tree-masked node holds the bits a plain call
/// would give it), so the next step keeps that path (`Engine.commit(path:from:)`) and feeds only what the draft
/// model has not computed: the new root, and an accepted node of the deepest level (never fed). Without this,
/// every step would first re-run the accepted tokens: one more draft-model call per step.
public final class ModelDrafter: CatchUpLimiting {
    public let name: String
    /// The engine running the draft model.
    public let engine: Engine
    /// The context index of the draft engine's slot 0 (0 unless a limited catch-up started it further on), and the
    /// tokens of its first `cached.count` slots, a plain chain.
    var cachedStart = 0
    var cached: [Int] = []
    /// The last draft's nodes, still in the draft engine's cache after those slots: each node's token, parent node
    /// (-1: the root, the last of `cached`) and cache slot (nil for nodes of the deepest level, never fed).
    var drafted: [(token: Int, parent: Int, slot: Int?)] = []
    /// The draft model's weight bytes over the target's (set by `DrafterChoice`; 0 when unknown).
    public var relativeCost = 0.0
    /// The most positions before the root a draft catches up on (nil: all). With a limit, a longer catch-up (the
    /// prompt, or a stretch decoded without drafts) starts the draft model's cache afresh on the last `limit`
    /// positions: its drafts see less context (relative positions are unchanged: rotary attention reads only
    /// those), the output never changes.
    public var catchUpLimit: Int?

    /// The context positions before the root (the last token, which every draft feeds) that the next draft runs:
    /// those neither in the draft model's chain nor on the last draft's path the context took, at most
    /// `catchUpLimit`.
    public func pendingPositions(context: [Int]) -> Int { min(reusable(context).pending, catchUpLimit ?? Int.max) }

    /// How much of `context` the cache holds: the leading slots of the chain that match it (never the root), and
    /// when the context continues the whole chain, the slots of the last draft's nodes along it, in order; and the
    /// positions before the root that neither covers.
    func reusable(_ context: [Int]) -> (prefix: Int, path: [Int], pending: Int) {
        var common = 0
        while common < cached.count && cachedStart + common < context.count - 1 && cached[common] == context[cachedStart + common] { common += 1 }
        var path: [Int] = [], node = -1, k = cachedStart + common
        while common == cached.count, k < context.count - 1,
              let child = drafted.indices.first(where: { drafted[$0].parent == node && drafted[$0].token == context[k] }),
              let slot = drafted[child].slot {
            path.append(slot)
            node = child
            k += 1
        }
        return (common, path, max(0, context.count - 1 - k))
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

    /// Repacks the draft model's weights for its activations now (`Engine.prepare`).
    public func prepare() { engine.prepare() }

    public func reset() {
        engine.reset()
        cachedStart = 0
        cached = []
        drafted = []
    }

    public func draft(context: [Int], shape: DraftShape) throws -> DraftTree {
        let (prefix, path, pending) = reusable(context)
        if let limit = catchUpLimit, pending > max(limit, 0) {
            // A limited catch-up: the cache starts afresh on the last `limit` positions and the root.
            engine.reset()
            cachedStart = context.count - 1 - max(limit, 0)
        } else if path.isEmpty {
            engine.truncate(to: prefix)
        } else {
            try engine.commit(path: path, from: prefix)
        }
        drafted = []
        let fed = Array(context[(cachedStart + engine.length)...])
        let out = try engine.forward(fed, logits: .last)
        cached = Array(context[cachedStart...])
        var tree = DraftTree()
        // Frontier: (tree node, its cache slot, its logits, cumulative log-probability).
        var frontier: [(node: Int, slot: Int, logits: ArraySlice<Float>, score: Double)] =
            [(-1, engine.length - 1, out.logits(at: fed.count - 1), 0)]
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
            for (i, k) in kept.enumerated() { drafted.append((k.token, tree.parents[nodes[i]], nil)) }
            if level == shape.depth || tree.count >= shape.maxNodes { break }
            let next = try engine.forward(kept.map(\.token), parents: kept.map(\.slot))
            let first = engine.length - kept.count
            for (i, node) in nodes.enumerated() { drafted[node].slot = first + i }
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
