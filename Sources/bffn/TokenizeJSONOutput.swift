import BFFNCore
import BFFNTokenizer

/// `bffn tokenize`'s output written as it goes (`--json`, and the text form in `writePlain`): the ids and tokens
/// are written a buffer at a time instead of building a tree of millions of JSON values, or an array of lines,
/// first (a 30 MB input gives tens of millions of ids). The JSON bytes are exactly those `OutputOptions.emit`
/// writes for the same object (json-c's pretty form: two-space indent, one element a line, an empty array as `[`
/// newline `  ]`), which a test compares.
struct TokenizeJSONOutput {
    private var buffer: [UInt8] = []
    /// Each id's token already serialised as a JSON string (the vocabulary is small; the ids are many).
    private var tokenJSON: [Int: [UInt8]] = [:]

    /// Writes `{"schema", "ids", "tokens", "tokenizer", "source"}` for `ids` on standard output.
    static func write(ids: [Int], bundle: TokenizerBundle) {
        var out = TokenizeJSONOutput()
        out.buffer.reserveCapacity(1 << 16)
        out.append("{\n  \"schema\": \(JSONValue.schemaVersion),\n  \"ids\": [")
        for (k, id) in ids.enumerated() {
            out.append(k == 0 ? "\n    " : ",\n    ")
            out.append(String(id))
        }
        out.append("\n  ],\n  \"tokens\": [")
        for (k, id) in ids.enumerated() {
            out.append(k == 0 ? "\n    " : ",\n    ")
            out.appendToken(id, bundle)
        }
        out.append("\n  ],\n  \"tokenizer\": ")
        out.append(JSONValue.string(bundle.tokenizer.kind).serialized(pretty: false))
        out.append(",\n  \"source\": ")
        out.append(JSONValue.string(bundle.source).serialized(pretty: false))
        out.append("\n}\n")
        out.flush()
    }

    /// Writes the text output for `ids` on standard output as it goes, the same bytes as printing each line: the
    /// ids on one line (comma-separated), then one line per token, its id, a tab and its visible piece
    /// (`visiblePiece`).
    static func writePlain(ids: [Int], bundle: TokenizerBundle) {
        var out = TokenizeJSONOutput()
        out.buffer.reserveCapacity(1 << 16)
        for (k, id) in ids.enumerated() {
            if k > 0 { out.append(",") }
            out.append(String(id))
        }
        out.append("\n")
        var pieces: [Int: [UInt8]] = [:]
        for id in ids {
            out.append(String(id))
            out.append("\t")
            if let known = pieces[id] {
                out.buffer.append(contentsOf: known)
            } else {
                let bytes = Array(visiblePiece(bundle.tokenizer.token(of: id) ?? "").utf8)
                pieces[id] = bytes
                out.buffer.append(contentsOf: bytes)
            }
            out.append("\n")
        }
        out.flush()
    }

    private mutating func append(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    private mutating func appendToken(_ id: Int, _ bundle: TokenizerBundle) {
        if let known = tokenJSON[id] {
            buffer.append(contentsOf: known)
        } else {
            let bytes = Array(JSONValue.string(bundle.tokenizer.token(of: id) ?? "").serialized(pretty: false).utf8)
            tokenJSON[id] = bytes
            buffer.append(contentsOf: bytes)
        }
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes the buffer to standard output (descriptor 1, after stdio's own buffer, so the order with `print`
    /// holds). A failed write (a closed pipe) ends the output silently, as `print`'s would.
    private mutating func flush() {
        guard !buffer.isEmpty else { return }
        fflush(nil)
        buffer.withUnsafeBytes { all in
            var p = all.baseAddress!, left = all.count
            while left > 0 {
                let n = CLibrary.write(1, p, left)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                p += n
                left -= n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
