/// Files of token id sequences: one comma-separated list of non-negative ids per line; blank lines and lines
/// starting with `#` are skipped. Used for `--prompts` and `--calibration`.
public enum TokenSequenceFile {
    /// Parses "5, 17,42" into ids; nil when any item is not a non-negative integer or the list is empty.
    public static func parseLine(_ text: Substring) -> [Int]? {
        var ids: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed()
            guard let v = Int(String(item)), v >= 0 else { return nil }
            ids.append(v)
        }
        return ids.isEmpty ? nil : ids
    }

    /// Reads every sequence of the file at `path`.
    /// - Throws: the file's open errors; `.malformed` naming the file, the line and its byte offset for a line
    ///   that is not a list of ids, or when the file holds none.
    public static func read(path: String) throws -> [[Int]] {
        let text = String(decoding: try MappedFile(path: path).contents, as: UTF8.self)
        var sequences: [[Int]] = []
        var offset = 0, lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            defer { offset += line.utf8.count + 1 }
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let ids = parseLine(line) else {
                throw BFFNError(.malformed, "line \(lineNumber) is not a comma-separated list of token ids", file: path, field: "line \(lineNumber)", offset: UInt64(offset))
            }
            sequences.append(ids)
        }
        guard !sequences.isEmpty else { throw BFFNError(.malformed, "the file holds no token sequence", file: path) }
        return sequences
    }
}
