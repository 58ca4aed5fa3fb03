import BFFNCore

/// A Hugging Face `tokenizer.json` with a BPE model, as the LLaMA/MiniCPM family ships it, encoding text to ids
/// exactly as the `tokenizers` library does (formats/tokenizer.md says what is accepted):
///
/// 1. added tokens (`<s>`, `</s>`, ...) are found in the raw text first, leftmost and longest;
/// 2. every other piece is normalised (`Prepend`, `Replace`, or a `Sequence` of them) and pre-tokenised
///    (none, or `Metaspace`);
/// 3. each word is split into characters (a character missing from the vocabulary becomes its UTF-8 bytes
///    `<0xXX>` with `byte_fallback`, else `unk_token`, consecutive unknowns fused with `fuse_unk`), and merges are
///    applied lowest rank first, leftmost among equals (a priority queue, as the library does).
///
/// A component this reader does not implement is an error naming it, never an approximation.
public struct BPETokenizer: Sendable {
    /// Token → id.
    public let vocabulary: [String: Int]
    /// Id → token.
    public let tokens: [String]
    /// (left id, right id) → (rank, merged id).
    let merges: [PairKey: (rank: Int, id: Int)]
    /// Added tokens matched before the model: content → id.
    public let addedTokens: [String: Int]
    let unknownId: Int?
    let byteFallback: Bool, fuseUnknown: Bool, ignoreMerges: Bool
    let normalizers: [Normalizer]
    let metaspace: Metaspace?
    /// Ids of `<0x00>` ... `<0xFF>` (nil where absent).
    let byteIds: [Int?]

    struct PairKey: Hashable, Sendable {
        var left: Int32, right: Int32
    }

    enum Normalizer: Sendable {
        case prepend(String)
        case replace(String, String)
    }

    struct Metaspace: Sendable {
        var replacement: String
        /// "always", "first" or "never".
        var prependScheme: String
        var split: Bool
    }

    /// The vocabulary size (the largest id + 1, added tokens included).
    public var vocabularySize: Int { tokens.count }

    /// Reads `tokenizer.json` at `path`.
    /// - Throws: the JSON reader's errors; `.unsupported` naming the component (a model other than BPE, a
    ///   normaliser, pre-tokeniser or option this reader does not implement); `.invalidJSON` naming the field of a
    ///   malformed vocabulary, merge or added token.
    public init(path: String) throws {
        try self.init(json: try MappedFile(path: path).withBytes { try JSONValue.parse($0, file: path, what: "tokenizer.json") }, path: path)
    }

    /// Reads a `tokenizer.json` held in memory (a pack's attachment); `path` names it in errors.
    /// - Throws: as `init(path:)`.
    public init(bytes: UnsafeRawBufferPointer, path: String) throws {
        try self.init(json: try JSONValue.parse(bytes, file: path, what: "tokenizer.json"), path: path)
    }

    init(json: JSONValue, path: String) throws {
        func fail(_ field: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: field) }
        func unsupported(_ field: String, _ what: String) -> BFFNError {
            BFFNError(.unsupported, "\(what) is not supported (supported: BPE with Prepend/Replace normalisers and an optional Metaspace pre-tokenizer)", file: path, field: field)
        }
        guard let model = json["model"], model.objectMembers != nil else { throw fail("model", "no model object") }
        guard model["type"]?.stringValue == "BPE" else { throw unsupported("model.type", "model type \(model["type"]?.stringValue ?? "?")") }
        if let d = model["dropout"], d != .null { throw unsupported("model.dropout", "BPE dropout") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], v != .null, v.stringValue != "" { throw unsupported("model.\(key)", "\(key)") }
        }
        guard let vocab = model["vocab"]?.objectMembers else { throw fail("model.vocab", "no vocabulary object") }
        var vocabulary: [String: Int] = [:]
        var maxId = -1
        for m in vocab {
            guard let id = m.value.intValue, id >= 0, id < 1 << 24 else { throw fail("model.vocab.\(m.key)", "ids must be integers 0 ..< 2^24") }
            vocabulary[m.key] = Int(id)
            maxId = max(maxId, Int(id))
        }
        var added: [String: Int] = [:]
        for (i, a) in (json["added_tokens"]?.arrayElements ?? []).enumerated() {
            guard let content = a["content"]?.stringValue, !content.isEmpty, let id = a["id"]?.intValue, id >= 0, id < 1 << 24 else {
                throw fail("added_tokens[\(i)]", "an added token needs a non-empty content and an id")
            }
            for flag in ["single_word", "lstrip", "rstrip", "normalized"] where a[flag]?.boolValue == true {
                throw unsupported("added_tokens[\(i)].\(flag)", "an added token with \(flag)")
            }
            added[content] = Int(id)
            maxId = max(maxId, Int(id))
        }
        var tokens = [String](repeating: "", count: maxId + 1)
        for (t, id) in vocabulary { tokens[id] = t }
        for (t, id) in added { tokens[id] = t }
        var merges: [PairKey: (Int, Int)] = [:]
        for (rank, m) in (model["merges"]?.arrayElements ?? []).enumerated() {
            let pair: [String]
            if let s = m.stringValue {
                pair = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            } else {
                pair = (m.arrayElements ?? []).compactMap(\.stringValue)
            }
            guard pair.count == 2, let l = vocabulary[pair[0]], let r = vocabulary[pair[1]], let merged = vocabulary[pair[0] + pair[1]] else {
                throw fail("model.merges[\(rank)]", "a merge must name two tokens of the vocabulary whose concatenation is one too")
            }
            let key = PairKey(left: Int32(l), right: Int32(r))
            if merges[key] == nil { merges[key] = (rank, merged) }
        }
        if let unk = model["unk_token"], unk != .null {
            guard let name = unk.stringValue, let id = vocabulary[name] ?? added[name] else { throw fail("model.unk_token", "the unknown token is not in the vocabulary") }
            unknownId = id
        } else {
            unknownId = nil
        }
        byteFallback = model["byte_fallback"]?.boolValue ?? false
        fuseUnknown = model["fuse_unk"]?.boolValue ?? false
        ignoreMerges = model["ignore_merges"]?.boolValue ?? false
        // Normalisers: none, one, or a Sequence of Prepend / Replace with a string pattern.
        var normalizers: [Normalizer] = []
        func normalizer(_ n: JSONValue, _ field: String) throws {
            switch n["type"]?.stringValue {
            case "Sequence"?:
                for (i, inner) in (n["normalizers"]?.arrayElements ?? []).enumerated() { try normalizer(inner, field + ".normalizers[\(i)]") }
            case "Prepend"?:
                guard let p = n["prepend"]?.stringValue else { throw fail(field + ".prepend", "Prepend needs a string") }
                normalizers.append(.prepend(p))
            case "Replace"?:
                guard let pattern = n["pattern"]?["String"]?.stringValue, let content = n["content"]?.stringValue, !pattern.isEmpty else {
                    throw unsupported(field + ".pattern", "a Replace normaliser without a plain string pattern (a regex)")
                }
                normalizers.append(.replace(pattern, content))
            case let other:
                throw unsupported(field + ".type", "the \(other ?? "untyped") normaliser")
            }
        }
        if let n = json["normalizer"], n != .null { try normalizer(n, "normalizer") }
        self.normalizers = normalizers
        if let p = json["pre_tokenizer"], p != .null {
            guard p["type"]?.stringValue == "Metaspace" else { throw unsupported("pre_tokenizer.type", "the \(p["type"]?.stringValue ?? "untyped") pre-tokenizer") }
            let scheme = p["prepend_scheme"]?.stringValue ?? ((p["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
            guard ["always", "first", "never"].contains(scheme) else { throw unsupported("pre_tokenizer.prepend_scheme", "prepend_scheme \(scheme)") }
            metaspace = Metaspace(replacement: p["replacement"]?.stringValue ?? "▁", prependScheme: scheme, split: p["split"]?.boolValue ?? true)
        } else {
            metaspace = nil
        }
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.merges = merges
        addedTokens = added
        byteIds = (0..<256).map { vocabulary["<0x" + Self.hex2($0) + ">"] }
    }

    static func hex2(_ b: Int) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[b >> 4], digits[b & 15]])
    }

    /// The ids of `text` (no bos/eos added: what the library's `encode(text, add_special_tokens=False)` gives).
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        var first = true
        for piece in splitAddedTokens(text) {
            switch piece {
            case .added(let id):
                ids.append(id)
            case .text(let s):
                for word in preTokenize(normalize(s), first: first) { ids += encodeWord(word) }
            }
            first = false
        }
        return ids
    }

    enum Piece { case added(Int), text(Substring) }

    /// The text cut at added tokens (leftmost match, the longest at one position).
    func splitAddedTokens(_ text: String) -> [Piece] {
        guard !addedTokens.isEmpty else { return text.isEmpty ? [] : [.text(Substring(text))] }
        let scalars = text.unicodeScalars
        var pieces: [Piece] = []
        var start = scalars.startIndex, i = scalars.startIndex
        let byFirst = Dictionary(grouping: addedTokens.keys, by: { $0.unicodeScalars.first! })
        while i < scalars.endIndex {
            var best: (String, String.UnicodeScalarView.Index)?
            for candidate in byFirst[scalars[i]] ?? [] {
                let cs = candidate.unicodeScalars
                var j = i, k = cs.startIndex
                while k < cs.endIndex, j < scalars.endIndex, scalars[j] == cs[k] { j = scalars.index(after: j); k = cs.index(after: k) }
                if k == cs.endIndex, best == nil || candidate.unicodeScalars.count > best!.0.unicodeScalars.count { best = (candidate, j) }
            }
            if let (token, end) = best {
                if start < i { pieces.append(.text(Substring(text.unicodeScalars[start..<i]))) }
                pieces.append(.added(addedTokens[token]!))
                i = end
                start = end
            } else {
                i = scalars.index(after: i)
            }
        }
        if start < scalars.endIndex { pieces.append(.text(Substring(text.unicodeScalars[start...]))) }
        return pieces
    }

    func normalize(_ s: Substring) -> String {
        var out = String(s)
        for n in normalizers {
            switch n {
            case .prepend(let p): if !out.isEmpty { out = p + out }
            case .replace(let pattern, let content): out = out.replacing(pattern, with: content)
            }
        }
        return out
    }

    /// Words of a normalised piece: the piece itself, or with Metaspace its spaces replaced, the replacement
    /// prepended as the scheme says, and split before every replacement character.
    func preTokenize(_ s: String, first: Bool) -> [String] {
        guard let m = metaspace else { return s.isEmpty ? [] : [s] }
        var t = s.replacing(" ", with: m.replacement)
        if !t.isEmpty, m.prependScheme == "always" || (m.prependScheme == "first" && first), !t.hasPrefix(m.replacement) {
            t = m.replacement + t
        }
        guard m.split else { return t.isEmpty ? [] : [t] }
        var words: [String] = [], current = ""
        let r = m.replacement.unicodeScalars.first!
        for u in t.unicodeScalars {
            if u == r && !current.isEmpty {
                words.append(current)
                current = ""
            }
            current.unicodeScalars.append(u)
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// BPE of one word.
    func encodeWord(_ word: String) -> [Int] {
        if ignoreMerges, let id = vocabulary[word] { return [id] }
        // Symbols: one per character (Unicode scalar), byte tokens or the unknown token where it is missing.
        var symbols: [Int] = []
        var lastWasUnknown = false
        for u in word.unicodeScalars {
            if let id = vocabulary[String(u)] {
                symbols.append(id)
                lastWasUnknown = false
                continue
            }
            if byteFallback {
                let bytes = Array(String(u).utf8)
                let ids = bytes.compactMap { byteIds[Int($0)] }
                if ids.count == bytes.count {
                    symbols += ids
                    lastWasUnknown = false
                    continue
                }
            }
            if let unk = unknownId {
                if !(fuseUnknown && lastWasUnknown) { symbols.append(unk) }
                lastWasUnknown = true
            }
        }
        return mergeAll(symbols)
    }

    /// Applies merges lowest rank first (then leftmost), as the library's priority queue does.
    func mergeAll(_ initial: [Int]) -> [Int] {
        let n = initial.count
        guard n > 1 else { return initial }
        var id = initial
        var prev = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for p in 0..<(n - 1) {
            if let m = merges[PairKey(left: Int32(id[p]), right: Int32(id[p + 1]))] { heap.push(.init(rank: m.rank, pos: p, newId: m.id)) }
        }
        while let top = heap.pop() {
            let p = top.pos
            guard alive[p], next[p] >= 0 else { continue }
            let q = next[p]
            guard let m = merges[PairKey(left: Int32(id[p]), right: Int32(id[q]))], m.id == top.newId else { continue }
            id[p] = top.newId
            alive[q] = false
            next[p] = next[q]
            if next[q] >= 0 { prev[next[q]] = p }
            if prev[p] >= 0, let m = merges[PairKey(left: Int32(id[prev[p]]), right: Int32(id[p]))] {
                heap.push(.init(rank: m.rank, pos: prev[p], newId: m.id))
            }
            if next[p] >= 0, let m = merges[PairKey(left: Int32(id[p]), right: Int32(id[next[p]]))] {
                heap.push(.init(rank: m.rank, pos: p, newId: m.id))
            }
        }
        var out: [Int] = []
        var i = 0
        while i >= 0 && i < n {
            out.append(id[i])
            i = next[i]
        }
        return out
    }
}

/// A binary min-heap of pending merges ordered by (rank, position).
struct MergeHeap {
    struct Entry {
        var rank: Int, pos: Int, newId: Int
        static func < (a: Entry, b: Entry) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos }
    }
    private var items: [Entry] = []

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
