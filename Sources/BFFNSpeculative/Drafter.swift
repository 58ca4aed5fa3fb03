import BFFNCore

/// Proposes draft tokens for speculative decoding.
public protocol Drafter: AnyObject {
    /// A short name for reports ("ngram", "draft:PATH").
    var name: String { get }
    /// Forgets any state (called at the start of every generation).
    func reset()
    /// Proposes a tree below the last token of `context` (the root: emitted, not yet in the target's cache),
    /// no wider, deeper or larger than `shape`. An empty tree is allowed: the step then decodes one token.
    /// - Throws: the drafter's errors (a draft model's token ids outside its vocabulary).
    func draft(context: [Int], shape: DraftShape) throws -> DraftTree
}
