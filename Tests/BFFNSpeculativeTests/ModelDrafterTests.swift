import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import Testing

/// The draft model keeps the accepted part of its last draft in its cache, and can limit a long catch-up.
@Suite("draft model cache")
struct ModelDrafterTests {
    static func drafter() throws -> ModelDrafter {
        let engine = try Engine(checkpointPath: Fixtures.trainedModel, options: EngineOptions(threads: 1))
        return try ModelDrafter(engine: engine, vocabularySize: engine.weights.architecture.vocabSize, name: "self")
    }

    static let context = Array(repeating: [17, 240, 1033, 5, 88, 402, 9, 3100], count: 3).flatMap { $0 }

    /// After a chain of 4, a context that took 2 of its tokens and a bonus needs nothing fed but the new root; one
    /// that took all 4 needs the fourth (the deepest level is never fed). The next draft equals a fresh draft
    /// model's on the same context: the kept nodes hold the bits a plain call gives (the engine is batch-invariant).
    @Test func theAcceptedPathIsKeptAndGivesTheSameDrafts() throws {
        let shape = try DraftShape.chain(4)
        let d = try Self.drafter()
        let first = try d.draft(context: Self.context, shape: shape)
        #expect(first.count == 4)
        let twoAccepted = Self.context + Array(first.tokens.prefix(2)) + [7]
        #expect(d.pendingPositions(context: twoAccepted) == 0)
        let allAccepted = Self.context + first.tokens + [7]
        #expect(d.pendingPositions(context: allAccepted) == 1)
        // A context off the draft (another token after the root) keeps only the chain.
        #expect(d.pendingPositions(context: Self.context + [first.tokens[0] == 1 ? 2 : 1, 7]) == 1)

        let reused = try d.draft(context: twoAccepted, shape: shape)
        let fresh = try Self.drafter().draft(context: twoAccepted, shape: shape)
        #expect(reused.tokens == fresh.tokens && reused.parents == fresh.parents)
        #expect(d.engine.length == twoAccepted.count + 3, "the chain, and the three fed levels of the new draft")
    }

    /// With a catch-up limit, a long context starts the draft model's cache on its last `limit` positions and the
    /// root, which drafts as a fresh draft model given only those (rotary attention reads relative positions).
    @Test func aLimitedCatchUpDraftsFromTheLastPositions() throws {
        let shape = try DraftShape.chain(3)
        let d = try Self.drafter()
        d.catchUpLimit = 5
        #expect(d.pendingPositions(context: Self.context) == 5)
        let limited = try d.draft(context: Self.context, shape: shape)
        #expect(d.engine.length == 6 + 2)
        let window = Array(Self.context.suffix(6))
        let fresh = try Self.drafter().draft(context: window, shape: shape)
        #expect(limited.tokens == fresh.tokens)
        // Within the limit it continues its cache as before.
        let next = Self.context + [limited.tokens[0], 11]
        #expect(d.pendingPositions(context: next) == 0)
        d.catchUpLimit = nil
        #expect(d.pendingPositions(context: next) == 0)
    }
}
