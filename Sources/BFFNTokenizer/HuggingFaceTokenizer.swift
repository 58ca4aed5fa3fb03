import BFFNCore

/// A Hugging Face `tokenizer.json` with a BPE model, encoding and decoding exactly as the `tokenizers` library
/// does (formats/tokenizer.md lists what is accepted):
///
/// 1. added tokens (`<s>`, `</s>`, `<|endoftext|>`, ...) are found in the raw text first, leftmost and longest;
/// 2. every other piece is normalised (`Prepend`, `Replace`, or a `Sequence` of them), then pre-tokenised into
///    words (none; `Metaspace`; or GPT-2's `ByteLevel` split with its byte-to-character alphabet);
/// 3. each word goes through the BPE model (`BPEModel`: merges by rank, `byte_fallback`, `unk_token`,
///    `fuse_unk`, `ignore_merges`).
///
/// Decoding runs the decoder chain (`Replace`, `ByteFallback`, `Fuse`, `Strip`, `Metaspace`, `ByteLevel`, or a
/// `Sequence`). A component this reader does not implement is an error naming it, never an approximation.
public struct HuggingFaceTokenizer: TextTokenizer {
    /// Id → token string (vocabulary and added tokens; "" for unused ids).
    public let tokens: [String]
    /// Token string → id (vocabulary and added tokens).
    let ids: [String: Int32]
    /// Added tokens matched before the model, as UTF-8, longest first within each first byte.
    let addedTokens: [(bytes: [UInt8], id: Int32)]
    private let addedByFirstByte: [[Int]]
    let model: BPEModel
    let normalizers: [Normalizer]
    let preTokenizer: PreTokenizer
    let decoders: [DecoderStep]
    public let kind: String

    enum Normalizer: Sendable {
        case prepend([UInt8])
        case replace([UInt8], [UInt8])
    }

    enum PreTokenizer: Sendable {
        case none
        /// Spaces become `replacement`, which is prepended (scheme "always", or "first" for the text's first piece)
        /// and, with `split`, starts every word.
        case metaspace(replacement: [UInt8], prependScheme: String, split: Bool)
        /// GPT-2's split (with `useRegex`), after prepending a space with `addPrefixSpace`.
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    }

    enum DecoderStep: Sendable {
        case replace([UInt8], [UInt8])
        case byteFallback
        case fuse
        case strip(content: [UInt8], start: Int, stop: Int)
        case metaspace(replacement: [UInt8], dropInFirstToken: Bool)
        case byteLevel
    }

    public var vocabularySize: Int { tokens.count }

    /// Reads `tokenizer.json` at `path`.
    /// - Throws: the JSON reader's errors; `.unsupported` naming the component (a model other than BPE, a
    ///   normaliser, pre-tokeniser, decoder or option this reader does not implement); `.invalidJSON` naming the
    ///   field of a malformed vocabulary, merge or added token.
    public init(path: String) throws {
        try self.init(json: try MappedFile(path: path).withBytes { try JSONValue.parse($0, file: path, what: "tokenizer.json") }, path: path)
    }

    /// Reads a `tokenizer.json` held in memory (a pack's attachment); `path` names it in errors.
    /// - Throws: as `init(path:)`.
    public init(bytes: UnsafeRawBufferPointer, path: String) throws {
        try self.init(json: try JSONValue.parse(bytes, file: path, what: "tokenizer.json"), path: path)
    }

    init(json: JSONValue, path: String) throws {
        let reader = TokenizerJSONReader(path: path)
        guard let model = json["model"], model.objectMembers != nil else { throw reader.fail("model", "no model object") }
        guard model["type"]?.stringValue == "BPE" else {
            throw reader.unsupported("model.type", "the \(model["type"]?.stringValue ?? "untyped") model (only BPE is read)")
        }
        if let d = model["dropout"], d != .null { throw reader.unsupported("model.dropout", "BPE dropout") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], v != .null, v.stringValue != "" { throw reader.unsupported("model.\(key)", key) }
        }
        guard let vocab = model["vocab"]?.objectMembers else { throw reader.fail("model.vocab", "no vocabulary object") }
        var vocabulary: [String: Int32] = [:]
        var maxId = -1
        for m in vocab {
            guard let id = m.value.intValue, id >= 0, id < 1 << 24 else { throw reader.fail("model.vocab.\(m.key)", "ids must be integers 0 ..< 2^24") }
            vocabulary[m.key] = Int32(id)
            maxId = max(maxId, Int(id))
        }
        var added: [(String, Int32)] = []
        for (i, a) in (json["added_tokens"]?.arrayElements ?? []).enumerated() {
            guard let content = a["content"]?.stringValue, !content.isEmpty, let id = a["id"]?.intValue, id >= 0, id < 1 << 24 else {
                throw reader.fail("added_tokens[\(i)]", "an added token needs a non-empty content and an id below 2^24")
            }
            for flag in ["single_word", "lstrip", "rstrip"] where a[flag]?.boolValue == true {
                throw reader.unsupported("added_tokens[\(i)].\(flag)", "an added token with \(flag)")
            }
            if a["normalized"]?.boolValue == true, let n = json["normalizer"], n != .null {
                throw reader.unsupported("added_tokens[\(i)].normalized", "an added token matched after a normaliser")
            }
            added.append((content, Int32(id)))
            maxId = max(maxId, Int(id))
        }
        var tokens = [String?](repeating: nil, count: maxId + 1)
        for (t, id) in vocabulary { tokens[Int(id)] = t }
        for (t, id) in added { tokens[Int(id)] = t }
        self.tokens = tokens.map { $0 ?? "" }
        var ids = vocabulary
        for (t, id) in added { ids[t] = id }
        self.ids = ids

        var merges: [(String, String)] = []
        for (rank, m) in (model["merges"]?.arrayElements ?? []).enumerated() {
            let pair: [String]
            if let s = m.stringValue {
                pair = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            } else {
                pair = (m.arrayElements ?? []).compactMap(\.stringValue)
            }
            guard pair.count == 2 else { throw reader.fail("model.merges[\(rank)]", "a merge is two token strings") }
            merges.append((pair[0], pair[1]))
        }
        var unknownId: Int32? = nil
        if let unk = model["unk_token"], unk != .null {
            guard let name = unk.stringValue, let id = vocabulary[name] ?? ids[name] else { throw reader.fail("model.unk_token", "the unknown token is not in the vocabulary") }
            unknownId = id
        }
        let preTokenizer = try reader.preTokenizer(json["pre_tokenizer"])
        var byteLevel = false
        if case .byteLevel = preTokenizer { byteLevel = true }
        do {
            self.model = try BPEModel(tokens: tokens, vocabulary: vocabulary, merges: merges, unknownId: unknownId,
                                      byteFallback: model["byte_fallback"]?.boolValue ?? false, fuseUnknown: model["fuse_unk"]?.boolValue ?? false,
                                      ignoreMerges: model["ignore_merges"]?.boolValue ?? false, byteLevel: byteLevel)
        } catch {
            throw reader.fail("model.merges[\(error.index)]", error.reason)
        }
        self.preTokenizer = preTokenizer
        normalizers = try reader.normalizers(json["normalizer"])
        decoders = try reader.decoders(json["decoder"])
        let sortedAdded = added.map { (bytes: Array($0.0.utf8), id: $0.1) }.sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        addedTokens = sortedAdded
        var byFirst = [[Int]](repeating: [], count: 256)
        for (k, t) in sortedAdded.enumerated() { byFirst[Int(t.bytes[0])].append(k) }
        addedByFirstByte = byFirst
        var description = "tokenizer.json BPE"
        switch preTokenizer {
        case .none: break
        case .metaspace: description += ", Metaspace"
        case .byteLevel: description += ", byte-level"
        }
        if model["byte_fallback"]?.boolValue == true { description += ", byte fallback" }
        kind = description
    }

    public func token(of id: Int) -> String? {
        id >= 0 && id < tokens.count && !tokens[id].isEmpty ? tokens[id] : nil
    }

    public func id(of token: String) -> Int? { ids[token].map(Int.init) }

    // MARK: - Encoding

    public func encode(_ text: String) -> [Int] {
        var text = text
        return text.withUTF8 { utf8 in
            var out: [Int32] = []
            out.reserveCapacity(utf8.count / 3 + 8)
            var scratch = BPEScratch()
            var pieceStart = 0, i = 0, first = true
            while i < utf8.count {
                if let (length, id) = addedToken(at: i, in: utf8) {
                    if pieceStart < i { encodePiece(UnsafeBufferPointer(rebasing: utf8[pieceStart..<i]), first: first, into: &out, scratch: &scratch) }
                    out.append(id)
                    first = false
                    i += length
                    pieceStart = i
                } else {
                    i += 1
                }
            }
            if pieceStart < utf8.count { encodePiece(UnsafeBufferPointer(rebasing: utf8[pieceStart...]), first: first, into: &out, scratch: &scratch) }
            return out.map(Int.init)
        }
    }

    /// The longest added token starting at byte `i`: its length in bytes and id.
    @inline(__always) private func addedToken(at i: Int, in text: UnsafeBufferPointer<UInt8>) -> (Int, Int32)? {
        for k in addedByFirstByte[Int(text[i])] {
            let t = addedTokens[k]
            if t.bytes.count <= text.count - i, t.bytes.withUnsafeBufferPointer({ memcmpBytes($0.baseAddress!, text.baseAddress! + i, $0.count) }) {
                return (t.bytes.count, t.id)
            }
        }
        return nil
    }

    /// Normalises, pre-tokenises and encodes one piece of text between added tokens.
    private func encodePiece(_ raw: UnsafeBufferPointer<UInt8>, first: Bool, into out: inout [Int32], scratch: inout BPEScratch) {
        var text = Array(raw)
        for n in normalizers {
            switch n {
            case .prepend(let p): if !text.isEmpty { text = p + text }
            case .replace(let pattern, let content): text = replaceAll(text, pattern, content)
            }
        }
        text.withUnsafeBufferPointer { t in
            switch preTokenizer {
            case .none:
                model.encode(t, into: &out, scratch: &scratch)
            case .metaspace(let replacement, let scheme, let split):
                var words = replaceAll(Array(t), [0x20], replacement)
                let prepend = scheme == "always" || (scheme == "first" && first)
                if prepend && !words.isEmpty && !words.starts(with: replacement) { words = replacement + words }
                words.withUnsafeBufferPointer { w in
                    guard split else { return model.encode(w, into: &out, scratch: &scratch) }
                    var start = 0, k = 1
                    while k < w.count {
                        if w[k] == replacement[0], replacement.count <= w.count - k, memcmpBytes(w.baseAddress! + k, replacement, replacement.count) {
                            model.encode(UnsafeBufferPointer(rebasing: w[start..<k]), into: &out, scratch: &scratch)
                            start = k
                            k += replacement.count
                        } else {
                            k += 1
                        }
                    }
                    model.encode(UnsafeBufferPointer(rebasing: w[start...]), into: &out, scratch: &scratch)
                }
            case .byteLevel(let addPrefixSpace, let useRegex):
                if addPrefixSpace && !t.isEmpty && t[0] != 0x20 {
                    ([0x20] + Array(t)).withUnsafeBufferPointer { w in
                        for r in useRegex ? ByteLevelSplitter.split(w) : [0..<w.count] { model.encode(UnsafeBufferPointer(rebasing: w[r]), into: &out, scratch: &scratch) }
                    }
                } else {
                    for r in useRegex ? ByteLevelSplitter.split(t) : [0..<t.count] { model.encode(UnsafeBufferPointer(rebasing: t[r]), into: &out, scratch: &scratch) }
                }
            }
        }
    }

    // MARK: - Decoding

    public func decode(_ ids: [Int]) throws -> String {
        try checkIds(ids)
        return String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    /// The decoder chain over the tokens' UTF-8, joined.
    func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var parts: [[UInt8]] = ids.map { Array(tokens[$0].utf8) }
        for step in decoders {
            switch step {
            case .replace(let pattern, let content):
                parts = parts.map { replaceAll($0, pattern, content) }
            case .fuse:
                parts = [parts.flatMap { $0 }]
            case .strip(let content, let start, let stop):
                parts = parts.map { strip($0, content, start, stop) }
            case .metaspace(let replacement, let dropInFirst):
                parts = parts.enumerated().map { i, p in replaceAll(p, replacement, i == 0 && dropInFirst ? [] : [0x20]) }
            case .byteFallback:
                parts = byteFallback(parts)
            case .byteLevel:
                // Each token's characters back to bytes (a token with a character outside the alphabet keeps its
                // own UTF-8), then the bytes read as UTF-8 with invalid sequences replaced.
                let bytes = parts.flatMap { ByteLevelAlphabet.bytes(of: String(decoding: $0, as: UTF8.self)) }
                parts = [Array(String(decoding: bytes, as: UTF8.self).utf8)]
            }
        }
        return parts.flatMap { $0 }
    }

    /// Runs of `<0xXX>` tokens become the bytes they name when those are valid UTF-8, else one U+FFFD per byte.
    private func byteFallback(_ parts: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = [], pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if String(validating: pending, as: UTF8.self) != nil { out.append(pending) } else {
                for _ in pending { out.append(Array("\u{FFFD}".utf8)) }
            }
            pending.removeAll()
        }
        for p in parts {
            if p.count == 6, p.starts(with: Array("<0x".utf8)), p[5] == UInt8(ascii: ">"), let b = UInt8(String(decoding: p[3..<5], as: UTF8.self), radix: 16) {
                pending.append(b)
            } else {
                flush()
                out.append(p)
            }
        }
        flush()
        return out
    }

    private func strip(_ token: [UInt8], _ content: [UInt8], _ start: Int, _ stop: Int) -> [UInt8] {
        var lo = 0, hi = token.count
        for _ in 0..<start {
            guard hi - lo >= content.count, Array(token[lo..<(lo + content.count)]) == content else { break }
            lo += content.count
        }
        for _ in 0..<stop {
            guard hi - lo >= content.count, Array(token[(hi - content.count)..<hi]) == content else { break }
            hi -= content.count
        }
        return Array(token[lo..<hi])
    }
}

/// Every occurrence of `pattern` in `bytes` replaced by `content` (left to right, non-overlapping). UTF-8 is
/// self-synchronising, so a match of a whole character's bytes is a match of that character.
func replaceAll(_ bytes: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
    guard let p0 = pattern.first, bytes.count >= pattern.count else { return bytes }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + bytes.count / 4)
    var i = 0
    let n = bytes.count, m = pattern.count
    while i < n {
        if bytes[i] == p0, m <= n - i, (m == 1 || bytes[(i + 1)..<(i + m)].elementsEqual(pattern[1...])) {
            out.append(contentsOf: content)
            i += m
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return out
}
