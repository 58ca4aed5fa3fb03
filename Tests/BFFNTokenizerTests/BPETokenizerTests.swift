import BFFNCore
import BFFNTestSupport
import BFFNTokenizer
import Testing

/// Ids against the Hugging Face `tokenizers` library's (fixtures/tokenizers/*/expected.json, written by that
/// library: fixtures/scripts/make_tokenizer_fixtures.py), on text with code, CJK, Korean, emoji and ZWJ
/// sequences, combining marks, control characters, runs of spaces, tabs and newlines, and special-token strings.
@Suite("BPE tokenizer")
struct BPETokenizerTests {
    @Test(arguments: ["llama-bpe", "metaspace-bpe", "tiny-bpe"])
    func idsEqualTheLibrarys(_ name: String) throws {
        let folder = Fixtures.path("tokenizers/" + name)
        let tokenizer = try BPETokenizer(path: folder + "/tokenizer.json")
        #expect(tokenizer.vocabularySize == (name == "tiny-bpe" ? 500 : 2000))
        let expected = try MappedFile(path: folder + "/expected.json").withBytes { try JSONValue.parse($0) }
        let samples = try #require(expected["samples"]?.arrayElements)
        #expect(samples.count == 16)
        var tokens = 0
        for (i, sample) in samples.enumerated() {
            let text = try #require(sample["text"]?.stringValue)
            let ids: [Int] = (sample["ids"]?.arrayElements ?? []).compactMap { $0.intValue.map(Int.init) }
            let mine = tokenizer.encode(text)
            #expect(mine == ids, "\(name) sample \(i): \(text.prefix(40))")
            tokens += ids.count
        }
        #expect(tokens > 5000)
    }

    @Test func unsupportedComponentsAreNamed() throws {
        let dir = TemporaryDirectory()
        let source = String(decoding: try Fixtures.bytes(Fixtures.path("tokenizers/llama-bpe/tokenizer.json")), as: UTF8.self)
        let byteLevel = source.replacing("\"pre_tokenizer\": null", with: "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}")
        let path = try dir.write("tokenizer.json", text: byteLevel)
        do {
            _ = try BPETokenizer(path: path)
            Issue.record("a ByteLevel pre-tokenizer was accepted")
        } catch let e as BFFNError {
            #expect(e.code == .unsupported && e.location.field == "pre_tokenizer.type" && e.reason.contains("ByteLevel"))
        }
        let wordPiece = try dir.write("wp.json", text: source.replacing("\"type\": \"BPE\"", with: "\"type\": \"WordPiece\""))
        #expect(throws: BFFNError(.unsupported, "")) { _ = try BPETokenizer(path: wordPiece) }
    }
}
