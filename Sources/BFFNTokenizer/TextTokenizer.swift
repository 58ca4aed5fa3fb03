import BFFNCore

/// Text to token ids and back: what every command that reads or prints text uses. Two implementations:
/// `HuggingFaceTokenizer` (`tokenizer.json`) and `SentencePieceTokenizer` (`tokenizer.model`).
public protocol TextTokenizer: Sendable {
    /// What it is, for reports: e.g. "tokenizer.json BPE, byte fallback" or "tokenizer.model (SentencePiece BPE)".
    var kind: String { get }
    /// The number of ids (the largest id + 1).
    var vocabularySize: Int { get }
    /// The ids of `text`, without bos/eos (the libraries' `add_special_tokens=False`).
    /// - Throws: the implementation's errors (SentencePiece reports its own failures).
    func encode(_ text: String) throws -> [Int]
    /// The text of `ids`, as the library's `decode(ids, skip_special_tokens=False)` gives it.
    /// - Throws: `.outOfBounds` naming the first id that is not below `vocabularySize`.
    func decode(_ ids: [Int]) throws -> String
    /// The token string of `id` (its vocabulary entry, e.g. "▁the" or "<0x0A>"), or nil when `id` is unused.
    func token(of id: Int) -> String?
    /// The id of the vocabulary entry or added token `token`, or nil.
    func id(of token: String) -> Int?
}

extension TextTokenizer {
    /// Throws `.outOfBounds` for the first id outside the vocabulary.
    func checkIds(_ ids: [Int]) throws {
        if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw BFFNError(.outOfBounds, "token id \(ids[bad]) (item \(bad)) is not below the vocabulary size \(vocabularySize)", field: "ids")
        }
    }
}
