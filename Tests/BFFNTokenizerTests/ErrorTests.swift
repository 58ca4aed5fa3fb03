import BFFNCore
import BFFNTestSupport
import BFFNTokenizer
import Testing

@Suite("Tokenizer errors")
struct TokenizerErrorTests {
    /// A component the reader does not implement is an error naming its field, never an approximation.
    @Test func unsupportedComponentsAreNamed() throws {
        let dir = TemporaryDirectory()
        let source = String(decoding: try Fixtures.bytes(Fixtures.path("text/hf-llama/tokenizer.json")), as: UTF8.self)
        let cases: [(String, String, String)] = [
            ("\"pre_tokenizer\": null", "\"pre_tokenizer\": {\"type\": \"Whitespace\"}", "pre_tokenizer.type"),
            ("\"type\": \"BPE\"", "\"type\": \"WordPiece\"", "model.type"),
            ("\"type\": \"Fuse\"", "\"type\": \"CTC\"", "decoder.decoders[2].type"),
            ("{\n        \"type\": \"Prepend\"", "{\"type\": \"NFKC\"}, {\n        \"type\": \"Prepend\"", "normalizer.normalizers[0].type"),
            ("\"lstrip\": false", "\"lstrip\": true", "added_tokens[0].lstrip"),
        ]
        for (i, (from, to, field)) in cases.enumerated() {
            let edited = source.replacing(from, with: to)
            #expect(edited != source, "case \(i) did not apply")
            let path = try dir.write("t\(i).json", text: edited)
            do {
                _ = try HuggingFaceTokenizer(path: path)
                Issue.record("case \(i) was accepted")
            } catch let e as BFFNError {
                #expect(e.code == .unsupported && e.location.field == field && e.location.file == path, "\(e)")
            }
        }
        // A merge naming a token outside the vocabulary names the merge.
        let badMerge = try dir.write("m.json", text: source.replacing("\"merges\": [\n      [\n        \"▁\",\n        \"▁\"\n      ]", with: "\"merges\": [[\"▁\", \"nope\"]"))
        #expect(throws: BFFNError(.invalidJSON, "")) { _ = try HuggingFaceTokenizer(path: badMerge) }
    }

    /// A file that is not a SentencePiece model is an error naming it (the library's reason inside).
    @Test func garbageModelsAreErrors() throws {
        let dir = TemporaryDirectory()
        for (name, bytes) in [("empty.model", [UInt8]()), ("junk.model", Array("not a protobuf at all \u{1}\u{2}".utf8)),
                              ("half.model", Array(try Fixtures.bytes(Fixtures.path("text/sp-bpe/tokenizer.model")).prefix(5000)))] {
            let path = try dir.write(name, bytes)
            do {
                _ = try SentencePieceTokenizer(path: path)
                Issue.record("\(name) was accepted")
            } catch let e as BFFNError {
                #expect((e.code == .malformed || e.code == .io) && e.location.file == path, "\(e)")
            }
        }
    }

    /// Special tokens: a name outside the vocabulary is an error naming the key; ids come from every file.
    @Test func specialTokensFollowTheConfigFiles() throws {
        var files = try TokenizerFiles(folder: Fixtures.path("text/hf-llama"))
        let bundle = try TokenizerBundle(files: files)
        #expect(bundle.bosId == 1 && bundle.eosIds == [2] && bundle.unknownId == 0 && bundle.addBos && !bundle.addEos)
        #expect(try bundle.encode("Hello world", addSpecial: true) == [1, 2567, 1053, 2127, 1828, 429])
        try files.add("generation_config.json", bytes: Array(#"{"eos_token_id": [7, 2]}"#.utf8), origin: "gen.json")
        #expect(try TokenizerBundle(files: files).eosIds == [2, 7])
        try files.add("tokenizer_config.json", bytes: Array(#"{"eos_token": "<nope>"}"#.utf8), origin: "tc.json")
        #expect(throws: BFFNError(.invalidJSON, "")) { _ = try TokenizerBundle(files: files) }
    }
}
