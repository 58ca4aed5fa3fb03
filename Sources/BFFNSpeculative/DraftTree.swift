import BFFNCore

/// The shape of the draft tokens proposed at each step: `width` children per node (top-k), `depth` levels, at most
/// `maxNodes` nodes. A chain of K tokens is width 1, depth K.
public struct DraftShape: Sendable, Equatable, CustomStringConvertible {
    /// Children per node.
    public var width: Int
    /// Levels below the root.
    public var depth: Int
    /// The node budget (not counting the root); the paper's trees have 31 nodes plus the root.
    public var maxNodes: Int

    /// EAGLE's published dynamic tree: top-10 children per expanded node (`top_k`), 3 levels (`depth`), at most
    /// 31 nodes below the root (`total_token` / tree size 32): the shape an EAGLE head drafts by default, and the
    /// node budget of every tree whose size is not given.
    public static let eagle = DraftShape(width: 10, depth: 3, maxNodes: 31)

    /// The most draft nodes one verification call takes (the root makes 64 tokens, the CUDA engine's limit).
    public static let nodeLimit = 63

    /// A chain of `tokens` draft tokens.
    /// - Throws: `.usage` unless 1 <= tokens <= 32.
    public static func chain(_ tokens: Int) throws -> DraftShape {
        guard tokens >= 1 && tokens <= 32 else { throw BFFNError(.usage, "draft tokens must be 1...32, not \(tokens)", field: "draft-tokens") }
        return DraftShape(width: 1, depth: tokens, maxNodes: tokens)
    }

    /// A tree of `width` children per node and `depth` levels, capped at `maxNodes` nodes (default `eagle`'s 31).
    /// - Throws: `.usage` for a width of 1...16, depth of 1...32 or budget of 1...63 violated.
    public static func tree(width: Int, depth: Int, maxNodes: Int = DraftShape.eagle.maxNodes) throws -> DraftShape {
        guard width >= 1 && width <= 16 else { throw BFFNError(.usage, "tree width must be 1...16, not \(width)", field: "tree") }
        guard depth >= 1 && depth <= 32 else { throw BFFNError(.usage, "tree depth must be 1...32, not \(depth)", field: "tree") }
        guard maxNodes >= 1 && maxNodes <= nodeLimit else {
            throw BFFNError(.usage, "a draft tree holds 1...\(nodeLimit) nodes, not \(maxNodes)", field: "tree")
        }
        return DraftShape(width: width, depth: depth, maxNodes: maxNodes)
    }

    /// Parses "WIDTHxDEPTH", e.g. "4x3", capped at `maxNodes` nodes (default `eagle`'s 31).
    /// - Throws: `.usage` for any other text or out-of-range numbers.
    public static func parseTree(_ text: String, maxNodes: Int = DraftShape.eagle.maxNodes) throws -> DraftShape {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let d = Int(parts[1]) else {
            throw BFFNError(.usage, "a tree is WIDTHxDEPTH, e.g. 4x3, not '\(text)'", field: "tree")
        }
        return try tree(width: w, depth: d, maxNodes: maxNodes)
    }

    public var description: String { width == 1 ? "chain of \(depth)" : "tree \(width)x\(depth) (<= \(maxNodes) nodes)" }
}

/// Draft tokens below a root (the last emitted token): node i holds `tokens[i]` and follows node `parents[i]`
/// (-1 for the root). Parents precede children, and siblings hold distinct tokens, so at most one child of a node
/// can match the target's argmax (docs/model.md, "Speculative decoding").
public struct DraftTree: Sendable, Equatable {
    /// The draft token ids, in node order.
    public private(set) var tokens: [Int] = []
    /// Each node's parent node (-1 = the root).
    public private(set) var parents: [Int] = []
    /// Each node's depth (1 for children of the root).
    public private(set) var depths: [Int] = []

    /// An empty tree (no draft tokens).
    public init() {}

    /// The first `n` nodes (parents precede children, so they form a tree).
    public func prefix(_ n: Int) -> DraftTree {
        var t = DraftTree()
        for i in 0..<min(n, count) { _ = t.add(tokens[i], parent: parents[i]) }
        return t
    }

    /// A chain: each token follows the one before.
    public init(chain: [Int]) {
        for (i, t) in chain.enumerated() { _ = add(t, parent: i - 1) }
    }

    /// Number of nodes (the root not counted).
    public var count: Int { tokens.count }

    /// Adds a node below `parent` (-1 = the root) unless a sibling already holds `token`; returns its index
    /// (the sibling's index when it exists).
    @discardableResult
    public mutating func add(_ token: Int, parent: Int) -> Int {
        precondition(parent >= -1 && parent < tokens.count, "a parent must precede its child")
        if let sibling = children(of: parent).first(where: { tokens[$0] == token }) { return sibling }
        tokens.append(token)
        parents.append(parent)
        depths.append(parent < 0 ? 1 : depths[parent] + 1)
        return tokens.count - 1
    }

    /// The nodes directly below `node` (-1 = the root), in node order.
    public func children(of node: Int) -> [Int] {
        parents.indices.filter { parents[$0] == node }
    }
}
