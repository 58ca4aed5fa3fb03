import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack
import BFFNSpeculative
import BFFNTestSupport
import Testing

@Suite("EAGLE heads carried in packs")
struct EaglePackTests {
    /// convert --draft: the pack carries the head's bytes and its reduced vocabulary; the carried head drafts the
    /// same trees as the folder's; conversion stays deterministic; a damaged head tensor is named by --check.
    @Test func aPackCarriesTheHeadAndItsVocabulary() throws {
        let dir = TemporaryDirectory()
        var options = ConvertOptions()
        options.quant = .q8(group: nil)
        options.draftHead = Fixtures.trainedEagle
        options.draftVocabularySize = 2048
        options.attachments = []
        let path = dir.file("m.bfpk")
        _ = try PackWriter.convert(source: Fixtures.trainedModel, to: path, options: options)
        _ = try PackWriter.convert(source: Fixtures.trainedModel, to: dir.file("again.bfpk"), options: options)
        #expect(try Fixtures.bytes(path) == Fixtures.bytes(dir.file("again.bfpk")), "the same input gives the same bytes")
        let pack = try PackFile(path: path)
        try pack.verifyChecksums()
        let (head, vocabulary) = try #require(try pack.eagleHead())
        let folderHead = try EagleHead(checkpoint: Checkpoint(path: Fixtures.trainedEagle))
        #expect(head.config == folderHead.config && vocabulary.count == 2048)
        #expect(vocabulary == (try DraftVocabulary.load(pickle: Fixtures.trainedEagle + "/freq_2048.pkl", size: 2048, targetVocabulary: 8000)))
        for ((name, a), (_, b)) in zip(head.namedMatrices, folderHead.namedMatrices) {
            #expect(memcmp(a.base, b.base, a.byteCount) == 0 && a.type == b.type, "\(name) keeps its bytes")
        }
        // The pack's own target drafting with the carried head: lossless.
        let engine = try Engine(weights: ModelWeights(pack: pack), options: EngineOptions(threads: 2))
        let drafter = try EagleDrafter(head: head, vocabulary: vocabulary, target: engine.weights, threads: 2)
        let prompt = Array(1...24)
        let plain = try plainGreedy(engine, prompt, 24)
        #expect(try SpeculativeDecoder.generate(engine, drafter: drafter, shape: .tree(width: 10, depth: 3), prompt: prompt, maxNewTokens: 24).generatedIds == plain)
        // Damage one byte of the carried q_proj: the check names it.
        let q = try #require(pack.draftHead?.tensors.first { $0.name == "layers.0.self_attn.q_proj.weight" })
        var bytes = try Fixtures.bytes(path)
        bytes[Int(q.offset) + 5] ^= 0x40
        let damaged = try dir.write("damaged.bfpk", bytes)
        #expect {
            try PackFile(path: damaged).verifyChecksums()
        } throws: { e in
            (e as? BFFNError)?.code == .checksumMismatch && (e as? BFFNError)?.location.field == "draft_head layers.0.self_attn.q_proj.weight"
                && (e as? BFFNError)?.location.offset == q.offset
        }
    }

    @Test func packsWithoutAHeadCarryNone() throws {
        let dir = TemporaryDirectory()
        var options = ConvertOptions()
        options.attachments = []
        _ = try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("m.bfpk"), options: options)
        let pack = try PackFile(path: dir.file("m.bfpk"))
        #expect(pack.draftHead == nil)
        #expect(try pack.eagleHead() == nil)
        // A head of another width is refused at conversion, naming fc.weight.
        var withHead = options
        withHead.draftHead = Fixtures.trainedEagle
        #expect {
            try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("bad.bfpk"), options: withHead)
        } throws: { e in (e as? BFFNError)?.code == .shapeMismatch && (e as? BFFNError)?.location.field == "fc.weight" }
        #expect(access(dir.file("bad.bfpk"), F_OK) != 0, "nothing left under the final name")
    }
}
