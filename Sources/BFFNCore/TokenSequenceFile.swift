/// Files of token id sequences: one comma-separated list of non-negative ids per line; blank lines and lines
/// starting with `#` are skipped. Used for `--prompts` and `--calibration`.
public enum TokenSequenceFile {
    /// Parses "5, 17,42" into ids: comma-separated items, each a non-negative integer (below `limit` when given)
    /// with `whitespace` characters allowed around it.
    /// - Throws: `.malformed` naming the first item that is not such an integer, with its byte offset in `text`.
    public static func parse<S: StringProtocol>(_ text: S, whitespace: String = " \t\r", below limit: Int? = nil) throws -> [Int] {
        var ids: [Int] = []
        var offset = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            defer { offset += part.utf8.count + 1 }
            var item = Substring(part)
            while let f = item.first, whitespace.contains(f) { item.removeFirst() }
            while let l = item.last, whitespace.contains(l) { item.removeLast() }
            guard let v = Int(item), v >= 0 else {
                throw BFFNError(.malformed, "'\(item)' in the token ids is not a non-negative integer", field: "token ids", offset: UInt64(offset))
            }
            if let limit, v >= limit {
                throw BFFNError(.malformed, "token id \(v) is not below the vocabulary size \(limit)", field: "token ids", offset: UInt64(offset))
            }
            ids.append(v)
        }
        return ids
    }

    /// Reads every sequence of the file at `path` (every id below `vocabularySize` when given).
    /// - Throws: the file's open errors; `.malformed` naming the file, the line and the byte offset of the first
    ///   bad item for a line that is not a list of such ids, or when the file holds none.
    public static func read(path: String, vocabularySize: Int? = nil) throws -> [[Int]] {
        let text = String(decoding: try MappedFile(path: path).contents, as: UTF8.self)
        var sequences: [[Int]] = []
        var offset = 0, lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            defer { offset += line.utf8.count + 1 }
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do { sequences.append(try parse(line, below: vocabularySize)) } catch let e as BFFNError {
                throw BFFNError(.malformed, "line \(lineNumber) is not a comma-separated list of token ids: \(e.reason)", file: path,
                                field: "line \(lineNumber)", offset: UInt64(offset) + (e.location.offset ?? 0))
            }
        }
        guard !sequences.isEmpty else { throw BFFNError(.malformed, "the file holds no token sequence", file: path) }
        return sequences
    }
}
