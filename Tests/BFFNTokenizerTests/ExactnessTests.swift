import BFFNCore
import BFFNTestSupport
import BFFNTokenizer
import CBlockFFNZlib
import Testing

/// The corpus of fixtures/text (1.1 MB: prose, code, CJK, Korean, emoji and ZWJ sequences, combining marks,
/// control characters, runs of spaces, tabs and newlines, special-token strings), loaded once.
enum TextCorpus {
    static let documents: [String] = {
        let bytes = try! Fixtures.gunzip(Fixtures.path("text/corpus.json.gz"))
        let json = try! bytes.withUnsafeBytes { try JSONValue.parse($0, file: "corpus.json.gz") }
        return json.arrayElements!.map { $0.stringValue! }
    }()

    /// One expected line per document: whether the library's decode gave the document back, the CRC-32 of its
    /// decoded UTF-8, and the ids (fixtures/scripts/make_text_fixtures.py).
    struct Expected {
        var roundTrips: Bool
        var decodedCRC: UInt32
        var ids: [Int]
    }

    static func expected(_ tokenizer: String) throws -> [Expected] {
        let text = String(decoding: try Fixtures.gunzip(Fixtures.path("text/\(tokenizer)/expected.txt.gz")), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            let parts = line.split(separator: " ")
            return Expected(roundTrips: parts[0] == "1", decodedCRC: UInt32(parts[1], radix: 16)!, ids: parts.dropFirst(2).map { Int($0)! })
        }
    }

    static func load(_ name: String) throws -> any TextTokenizer {
        name.hasPrefix("sp-") ? try SentencePieceTokenizer(path: Fixtures.path("text/\(name)/tokenizer.model"))
                              : try HuggingFaceTokenizer(path: Fixtures.path("text/\(name)/tokenizer.json"))
    }
}

func crc32Of(_ s: String) -> UInt32 {
    var s = s
    return s.withUTF8 { UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress, UInt32($0.count))) }
}

@Suite("Tokenizer exactness against the Python libraries")
struct ExactnessTests {
    /// Every document's ids equal the library's; the decoded text's bytes equal the library's decode (so the
    /// round trip holds exactly where the library's does).
    @Test(arguments: ["hf-llama", "hf-metaspace", "hf-bytelevel", "sp-bpe", "sp-unigram"])
    func idsAndTextEqualTheLibrarys(_ name: String) throws {
        let tokenizer = try TextCorpus.load(name)
        #expect(tokenizer.vocabularySize == 3000)
        let expected = try TextCorpus.expected(name)
        let documents = TextCorpus.documents
        try #require(expected.count == documents.count)
        var idMismatches = 0, textMismatches = 0, bytes = 0, tokens = 0, roundTrips = 0
        for (doc, want) in zip(documents, expected) {
            let ids = try tokenizer.encode(doc)
            if ids != want.ids {
                idMismatches += 1
                if idMismatches <= 3 { Issue.record("\(name): ids differ for \(String(reflecting: String(doc.prefix(60))))") }
            }
            let back = try tokenizer.decode(want.ids)
            if crc32Of(back) != want.decodedCRC {
                textMismatches += 1
                if textMismatches <= 3 { Issue.record("\(name): decoded text differs for \(String(reflecting: String(doc.prefix(60)))): \(String(reflecting: String(back.prefix(60))))") }
            }
            if want.roundTrips {
                roundTrips += 1
                #expect(Array(back.utf8) == Array(doc.utf8))
            }
            bytes += doc.utf8.count
            tokens += ids.count
        }
        #expect(idMismatches == 0 && textMismatches == 0)
        #expect(bytes > 1_000_000 && tokens > 200_000)
        // The Metaspace decoder neither reads byte tokens nor keeps the first token's leading space: few documents
        // come back (9 with the library too).
        #expect(roundTrips > (name == "hf-metaspace" ? 5 : documents.count / 2))
    }
}

@Suite("Streaming detokenizer")
struct StreamingDetokenizerTests {
    /// Pieces pushed one id at a time concatenate to the full decode, for every tokenizer, on every document.
    @Test(arguments: ["hf-llama", "hf-metaspace", "hf-bytelevel", "sp-bpe", "sp-unigram"])
    func piecesConcatenateToTheFullText(_ name: String) throws {
        let tokenizer = try TextCorpus.load(name)
        var mismatches = 0
        for doc in TextCorpus.documents.prefix(300) {
            let ids = try tokenizer.encode(doc)
            var stream = StreamingDetokenizer(tokenizer: tokenizer)
            var text = ""
            for id in ids { text += try stream.push(id) }
            text += try stream.finish()
            if Array(text.utf8) != Array(try tokenizer.decode(ids).utf8) {
                mismatches += 1
                if mismatches <= 2 { Issue.record("\(name): streamed \(String(reflecting: String(text.prefix(50)))) for \(String(reflecting: String(doc.prefix(50))))") }
            }
        }
        #expect(mismatches == 0)
    }
}
