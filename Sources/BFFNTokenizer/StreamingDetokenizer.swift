/// Turns ids arriving one at a time into text pieces that can be printed at once: each call returns the text the
/// new ids add, holding it back while it ends in an incomplete character (U+FFFD from a partial byte sequence).
///
/// It decodes a short window of recent ids twice (with and without the new ones) and emits the difference, so a
/// decoder that treats the first token specially (stripping its leading space) does so for both and the cost per
/// id stays constant. Concatenating every piece, then `finish()`, gives `decode(all ids)` (tested on the corpus).
public struct StreamingDetokenizer {
    private let tokenizer: any TextTokenizer
    private var ids: [Int] = []
    /// Start of the decoding window, and the end of what has been emitted from it.
    private var prefixIndex = 0, readIndex = 0

    /// A detokenizer for `tokenizer`, optionally after `context` ids already shown (a prompt), whose text is not
    /// returned again.
    public init(tokenizer: any TextTokenizer, context: [Int] = []) {
        self.tokenizer = tokenizer
        ids = context
        prefixIndex = max(0, context.count - 4)
        readIndex = context.count
    }

    /// Adds `id`; returns the text it completes ("" while a character is incomplete).
    /// - Throws: `.outOfBounds` for an id outside the vocabulary.
    public mutating func push(_ id: Int) throws -> String {
        ids.append(id)
        let prefix = try tokenizer.decode(Array(ids[prefixIndex..<readIndex]))
        let full = try tokenizer.decode(Array(ids[prefixIndex...]))
        let prefixBytes = prefix.utf8.count
        guard full.utf8.count > prefixBytes, !full.hasSuffix("\u{FFFD}") else { return "" }
        let piece = String(decoding: Array(full.utf8)[prefixBytes...], as: UTF8.self)
        prefixIndex = readIndex
        readIndex = ids.count
        return piece
    }

    /// The text still held back (an incomplete character at the end), decoded as it is.
    /// - Throws: `.outOfBounds` for an id outside the vocabulary.
    public mutating func finish() throws -> String {
        guard readIndex < ids.count else { return "" }
        let prefix = try tokenizer.decode(Array(ids[prefixIndex..<readIndex]))
        let full = try tokenizer.decode(Array(ids[prefixIndex...]))
        readIndex = ids.count
        prefixIndex = readIndex
        let bytes = Array(full.utf8)
        return bytes.count > prefix.utf8.count ? String(decoding: bytes[prefix.utf8.count...], as: UTF8.self) : ""
    }
}
