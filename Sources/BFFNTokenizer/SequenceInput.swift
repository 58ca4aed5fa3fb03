import BFFNCore

/// Files of prompts, calibration text or workloads: token ids or plain text, told apart by their first line.
///
/// - Token ids: the first line that is not blank and not a `#` comment is a comma-separated list of integers;
///   then every such line is one sequence (`TokenSequenceFile`).
/// - Plain text otherwise: cut at blank lines into paragraphs; each paragraph is encoded with the model's
///   tokenizer (bos first when the tokenizer config adds it) and is one sequence, cut into pieces of at most
///   `maxLength` tokens when longer. Paragraphs that encode to nothing are skipped.
public enum SequenceInput {
    /// Whether the file's first meaningful line is a list of token ids.
    public static func isTokenIdFile(_ text: String) -> Bool {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            return (try? TokenSequenceFile.parse(line)) != nil
        }
        return false
    }

    /// The sequences of the file at `path`. `tokenizer` is called only for a text file.
    /// - Throws: the file's read errors; `TokenSequenceFile`'s errors for an id file; the tokenizer's errors;
    ///   `.shapeMismatch` when the tokenizer gives an id outside `vocabularySize`; `.malformed` when no sequence
    ///   results.
    public static func read(path: String, vocabularySize: Int, maxLength: Int, tokenizer: () throws -> TokenizerBundle) throws -> [[Int]] {
        let text = String(decoding: try MappedFile(path: path).contents, as: UTF8.self)
        if isTokenIdFile(text) { return try TokenSequenceFile.read(path: path, vocabularySize: vocabularySize) }
        let bundle = try tokenizer()
        var sequences: [[Int]] = []
        for paragraph in paragraphs(text) {
            let ids = try bundle.encode(paragraph, addSpecial: true)
            if let bad = ids.first(where: { $0 >= vocabularySize }) {
                throw BFFNError(.shapeMismatch, "the tokenizer gives id \(bad), beyond the model's vocabulary of \(vocabularySize)", file: path)
            }
            guard ids.count > (bundle.addBos && bundle.bosId != nil ? 1 : 0) else { continue }
            for start in stride(from: 0, to: ids.count, by: max(maxLength, 1)) {
                sequences.append(Array(ids[start..<min(ids.count, start + maxLength)]))
            }
        }
        guard !sequences.isEmpty else { throw BFFNError(.malformed, "the text holds no paragraph that encodes to tokens", file: path) }
        return sequences
    }

    /// The text's paragraphs: runs of lines separated by lines that are empty or hold only spaces and tabs.
    public static func paragraphs(_ text: String) -> [String] {
        var out: [String] = [], current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                if !current.isEmpty { out.append(current.joined(separator: "\n")) }
                current = []
            } else {
                current.append(line)
            }
        }
        if !current.isEmpty { out.append(current.joined(separator: "\n")) }
        return out
    }
}
