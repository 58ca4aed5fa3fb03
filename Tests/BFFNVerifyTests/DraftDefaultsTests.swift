import BFFNSpeculative
import BFFNVerify
import Testing

/// A device's verification drafts with EAGLE's default tree (`DraftShape.eagle`), cut to the device's chunk.
@Suite("verification draft defaults")
struct DraftDefaultsTests {
    @Test func theCarriedEagleTreeIsEaglesDefaultWithinTheChunk() throws {
        var o = VerifyOptions()
        #expect(o.drafter == .ngram)
        try o.useCarriedEagleTree(withinChunkOf: 64)
        #expect(o.drafter == .eagle(path: nil, vocabulary: nil) && o.draftShape == DraftShape.eagle && !o.adaptiveDrafting)
        try o.useCarriedEagleTree(withinChunkOf: 16)
        #expect(o.draftShape == (try DraftShape.tree(width: 10, depth: 3, maxNodes: 15)))
    }
}
