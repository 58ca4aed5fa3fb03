import BFFNCore

extension DraftShape {
    /// The draft shape for `drafter` from what a caller gave (all optional but `chainTokens`): `tree`
    /// ("WIDTHxDEPTH"), else a dynamic tree when an EAGLE head drafts or `treeSize` (nodes, the root included) /
    /// `depth` / `topK` are given (defaults `DraftShape.eagle`), else a chain of `chainTokens`.
    /// - Throws: `.usage` naming the value out of range or malformed.
    public static func chosen(for drafter: DrafterChoice, tree: String? = nil, treeSize: Int? = nil, depth: Int? = nil, topK: Int? = nil,
                              chainTokens: Int = 8) throws -> DraftShape {
        let nodes = try treeSize.map { size -> Int in
            guard size >= 2 && size <= nodeLimit + 1 else {
                throw BFFNError(.usage, "--tree-size must be 2...\(nodeLimit + 1), not \(size)", field: "tree-size")
            }
            return size - 1
        }
        if let tree { return try parseTree(tree, maxNodes: nodes ?? eagle.maxNodes) }
        var dynamic = treeSize != nil || depth != nil || topK != nil
        if case .eagle = drafter { dynamic = true }
        if dynamic { return try self.tree(width: topK ?? eagle.width, depth: depth ?? eagle.depth, maxNodes: nodes ?? eagle.maxNodes) }
        return try chain(chainTokens)
    }
}
