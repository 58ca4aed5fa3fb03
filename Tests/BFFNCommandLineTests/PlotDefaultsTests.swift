import BFFNCore
import BFFNTestSupport
import Testing

/// `bffn plot MODEL` without prompts runs the model's own prompts (MODEL/prompts.txt, paragraphs of text encoded
/// with its tokenizer) when the folder has them, rather than the four built-in id sequences.
@Suite("plot defaults", .serialized)
struct PlotDefaultsTests {
    @Test func theTrainedModelIsPlottedOnItsOwnPrompts() throws {
        let dir = TemporaryDirectory()
        let r = try runBFFN(["plot", Fixtures.trainedModel, "-o", dir.file("p"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        // The file's paragraphs: runs of lines between blank ones.
        let text = String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/prompts.txt"), as: UTF8.self)
        var paragraphs = 0, inParagraph = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let blank = line.allSatisfy { $0 == " " || $0 == "\t" }
            if !blank && !inParagraph { paragraphs += 1 }
            inParagraph = !blank
        }
        #expect(paragraphs > 4 && j["prompts"]?.intValue == Int64(paragraphs))
        #expect((j["tokens"]?.intValue ?? 0) > 100)
    }
}
