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
    /// What one position the drafter runs costs relative to one decode step of the target (a draft model: its
    /// weight bytes over the target's, since decoding reads every weight); 0 for drafters without a model.
    var relativeCost: Double { get }
    /// Positions the drafter must run before drafting below `context` that it has not run yet, the root (the last
    /// token, which every draft runs) not counted: a draft model's catch-up on the prompt and on tokens emitted
    /// without a draft, an EAGLE head's observed positions; 0 for drafters without a model.
    func pendingPositions(context: [Int]) -> Int
    /// Makes now what the drafter's first draft would make first (a draft model's weights repacked into tiles), so
    /// that decoding does not pay it (the speculative decoder calls it before the prompt pass).
    func prepare()
}

extension Drafter {
    public var relativeCost: Double { 0 }
    public func pendingPositions(context: [Int]) -> Int { 0 }
    public func prepare() {}
}

/// A drafter that can run only the last positions of a long catch-up (its drafts then see less of the context,
/// which changes them, never the output). The speculative decoder sets the limit while adaptive drafting decides,
/// so that a probe after a stretch of plain steps, or the first draft after a long prompt, does not pay for the
/// whole stretch (`AdaptiveDrafting.catchUpLimit`).
public protocol CatchUpLimiting: Drafter {
    /// The most positions before the root a draft runs to catch up (nil: every one).
    var catchUpLimit: Int? { get set }
}

/// A drafter that reads the target's features: the final-normed hidden state of every committed position
/// (`ForwardOutput.features`), as an EAGLE head does. The speculative decoder hands it the features of the prompt
/// after the prompt pass and those of the accepted path after every verification, each with the token that
/// follows it (the next prompt token, or the token emitted after it).
public protocol FeatureDrafter: CatchUpLimiting {
    /// Takes committed positions: `features` holds one row of H floats per position, `nextTokens` the token that
    /// follows each.
    /// - Throws: `.usage` when the counts disagree; `.outOfBounds` for a token outside the vocabulary.
    func observe(features: [Float], nextTokens: [Int]) throws
}
