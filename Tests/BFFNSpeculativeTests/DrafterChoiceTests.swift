import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import Testing

/// The drafter choice (`--speculative`) and EAGLE's default tree live with the drafters.
@Suite("drafter choice and EAGLE's default tree")
struct DrafterChoiceTests {
    @Test func eaglesDefaultShapeIsTheOneTreeBudget() throws {
        #expect(DraftShape.eagle == (try DraftShape.tree(width: 10, depth: 3, maxNodes: 31)))
        #expect(try DraftShape.tree(width: 2, depth: 2).maxNodes == DraftShape.eagle.maxNodes)
        #expect(try DraftShape.parseTree("4x3").maxNodes == DraftShape.eagle.maxNodes)
        #expect(DraftShape.eagle.description == "tree 10x3 (<= 31 nodes)")
    }

    @Test func choicesParseAndBuildTheirDrafters() throws {
        #expect(try DrafterChoice.parse("ngram") == .ngram && DrafterChoice.parse("none") == DrafterChoice.none)
        #expect(try DrafterChoice.parse("eagle:head") == .eagle(path: "head", vocabulary: nil))
        #expect(try DrafterChoice.parse("eagle:head").withDraftVocabulary(2048).description == "eagle:head (vocabulary 2048)")
        #expect(DrafterChoice.ngram.withDraftVocabulary(2048) == .ngram)
        #expect(throws: BFFNError(.usage, "")) { try DrafterChoice.parse("medusa") }

        let engine = try Engine(checkpointPath: Fixtures.trainedModel, options: EngineOptions(threads: 1))
        #expect(try DrafterChoice.none.makeDrafter(target: engine.weights, targetPath: Fixtures.trainedModel, threads: 1) == nil)
        #expect(try DrafterChoice.ngram.makeDrafter(target: engine.weights, targetPath: Fixtures.trainedModel, threads: 1) is NGramDrafter)
        // A checkpoint carries no head: eagle alone is a usage error; a head folder builds the EAGLE drafter.
        #expect(throws: BFFNError(.usage, "")) {
            try DrafterChoice.eagle(path: nil, vocabulary: nil).makeDrafter(target: engine.weights, targetPath: Fixtures.trainedModel, threads: 1)
        }
        let choice = DrafterChoice.eagle(path: Fixtures.trainedEagle, vocabulary: 2048)
        let eagle = try #require(try choice.makeDrafter(target: engine.weights, targetPath: Fixtures.trainedModel, threads: 1) as? EagleDrafter)
        #expect(eagle.name == choice.description && eagle.vocabulary.count == 2048)
    }

    /// A draft model runs with the activations it is given (the target's option), `.auto` unless told: a q4 draft
    /// model on float32 activations made every draft of synth XLarge 3-4x dearer than its integer products.
    @Test func aDraftModelTakesTheGivenActivations() throws {
        let engine = try Engine(checkpointPath: Fixtures.trainedModel, options: EngineOptions(threads: 1))
        let byDefault = try #require(try DrafterChoice.model(Fixtures.trainedModel)
            .makeDrafter(target: engine.weights, targetPath: Fixtures.trainedModel, threads: 2) as? ModelDrafter)
        #expect(byDefault.engine.options.activations == .auto && byDefault.engine.options.threads == 2)
        let exact = try #require(try DrafterChoice.model(Fixtures.trainedModel)
            .makeDrafter(target: engine.weights, targetPath: Fixtures.trainedModel, threads: 1, activations: .float) as? ModelDrafter)
        #expect(exact.engine.options.activations == .float)
    }
}
