/// The BPE model of a `tokenizer.json`: a vocabulary, ranked merges, and what happens to characters the
/// vocabulary lacks. It encodes one pre-tokenised word (UTF-8 bytes) exactly as the Hugging Face library's
/// `BPE::tokenize` does:
///
/// - symbols: one per character (a Unicode scalar; one per byte for byte-level vocabularies); a character missing
///   from the vocabulary becomes its bytes' `<0xXX>` tokens with `byte_fallback` (when all exist), else the unknown
///   token (consecutive ones fused into one with `fuse_unk`), else it is dropped;
/// - merges: repeatedly the adjacent pair with the lowest merge rank, the leftmost among equals, is replaced by
///   its merged token, until no adjacent pair has a merge.
///
/// Speed without approximation: a word is cut between two characters that no merged token contains side by
/// side (no merge can ever join across such a cut, so merging the parts separately gives the same symbols), and
/// the parts are looked up in a per-call cache before they are merged.
struct BPEModel: Sendable {
    /// Byte-level (GPT-2) vocabulary: token strings spell bytes through the byte-to-character table, and a
    /// "character" of a word is one byte.
    let byteLevel: Bool
    /// Raw bytes of each token (byte-level tokens mapped back to their bytes). Empty for unused ids.
    let tokenBytes: [[UInt8]]
    /// Single-character tokens: ASCII by table, other scalars by dictionary (UTF-8 vocabularies).
    private let asciiIds: [Int32]
    /// Basic Multilingual Plane characters by table (-1 when missing); others by dictionary.
    private let bmpIds: [Int32]
    private let scalarIds: [UInt32: Int32]
    /// Byte-level vocabularies: the token of each byte (-1 when missing).
    private let byteSymbolIds: [Int32]
    /// `byte_fallback` tokens `<0x00>` ... `<0xFF>` (-1 when missing); empty without byte fallback.
    private let fallbackIds: [Int32]
    let unknownId: Int32?
    let fuseUnknown: Bool
    /// `ignore_merges`: a word that is itself a token is that token.
    private let wholeWords: [[UInt8]: Int32]?
    private let merges: PairTable
    /// Adjacent character pairs that occur inside some merged token: ASCII pairs as a bitset, others in a set.
    private let joinableASCII: [UInt64]
    private let joinable: PairTable

    /// Builds the model. `tokens[id]` is each token's string (nil for unused ids); `merges` are (left, right)
    /// strings in rank order.
    /// - Throws: a `ModelError` naming the merge index whose tokens are not in the vocabulary.
    init(tokens: [String?], vocabulary: [String: Int32], merges mergeList: [(String, String)], unknownId: Int32?, byteFallback: Bool,
         fuseUnknown: Bool, ignoreMerges: Bool, byteLevel: Bool) throws(ModelError) {
        self.byteLevel = byteLevel
        self.unknownId = unknownId
        self.fuseUnknown = fuseUnknown
        tokenBytes = tokens.map { t in
            guard let t else { return [] }
            return byteLevel ? ByteLevelAlphabet.bytes(of: t) : Array(t.utf8)
        }
        var ascii = [Int32](repeating: -1, count: 128)
        var scalars: [UInt32: Int32] = [:]
        var bytesTable = [Int32](repeating: -1, count: 256)
        for (t, id) in vocabulary {
            let us = t.unicodeScalars
            guard us.count == 1, let u = us.first else { continue }
            if byteLevel {
                if let b = ByteLevelAlphabet.byte(of: u) { bytesTable[Int(b)] = id }
            } else if u.value < 128 {
                ascii[Int(u.value)] = id
            } else {
                scalars[u.value] = id
            }
        }
        asciiIds = ascii
        var bmp = [Int32](repeating: -1, count: 65536)
        for (u, id) in scalars where u < 65536 { bmp[Int(u)] = id }
        bmpIds = bmp
        scalarIds = scalars.filter { $0.key >= 65536 }
        byteSymbolIds = bytesTable
        fallbackIds = byteFallback ? (0..<256).map { vocabulary["<0x" + hexByte($0) + ">"] ?? -1 } : []
        wholeWords = ignoreMerges ? Dictionary(vocabulary.map { (byteLevel ? ByteLevelAlphabet.bytes(of: $0.key) : Array($0.key.utf8), $0.value) },
                                               uniquingKeysWith: { a, _ in a }) : nil

        var table = PairTable(capacity: mergeList.count)
        var pairsASCII = [UInt64](repeating: 0, count: 256)
        var pairs = Set<UInt64>()
        for (rank, (l, r)) in mergeList.enumerated() {
            guard let left = vocabulary[l], let right = vocabulary[r], let merged = vocabulary[l + r] else {
                throw ModelError(index: rank, reason: "a merge must name two tokens of the vocabulary whose concatenation is one too")
            }
            table.insertIfAbsent(left: left, right: right, rank: Int32(rank), merged: merged)
            // Every pair of adjacent characters of the merged token may be joined by some merge.
            var previous: UInt32? = nil
            let units: [UInt32] = byteLevel ? ByteLevelAlphabet.bytes(of: l + r).map { UInt32($0) } : (l + r).unicodeScalars.map(\.value)
            for c in units {
                if let p = previous {
                    if p < 128 && c < 128 { pairsASCII[Int(p) * 2 + Int(c >> 6)] |= 1 << UInt64(c & 63) } else { pairs.insert(UInt64(p) << 32 | UInt64(c)) }
                }
                previous = c
            }
        }
        merges = table
        joinableASCII = pairsASCII
        var pairTable = PairTable(capacity: pairs.count)
        for p in pairs { pairTable.insertIfAbsent(left: Int32(bitPattern: UInt32(p >> 32)), right: Int32(bitPattern: UInt32(p & 0xFFFF_FFFF)), rank: 0, merged: 0) }
        joinable = pairTable
    }

    struct ModelError: Error {
        var index: Int
        var reason: String
    }

    @inline(__always) private func mayJoin(_ a: UInt32, _ b: UInt32) -> Bool {
        if a < 128 && b < 128 { return joinableASCII[Int(a) * 2 + Int(b >> 6)] & (1 << UInt64(b & 63)) != 0 }
        return joinable.lookup(Int32(bitPattern: a), Int32(bitPattern: b)) != nil
    }

    /// Appends the ids of one pre-tokenised word to `out`.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch: inout BPEScratch) {
        guard !word.isEmpty else { return }
        if let wholeWords, let id = wholeWords[Array(word)] {
            out.append(id)
            return
        }
        let n = word.count
        scratch.symbols.removeAll(keepingCapacity: true)
        var segmentStart = 0, segmentSymbols = 0
        var i = 0
        var previous: UInt32 = 0, previousUnknown = true
        while i < n {
            // The next character (a byte for byte-level vocabularies): its value and byte length.
            let (c, length) = byteLevel ? (UInt32(word[i]), 1) : utf8Scalar(word, at: i)
            // Its symbols.
            let id: Int32
            if byteLevel { id = byteSymbolIds[Int(c)] } else if c < 128 { id = asciiIds[Int(c)] } else if c < 65536 { id = bmpIds[Int(c)] } else { id = scalarIds[c] ?? -1 }
            let unknown = id < 0
            if i > 0 && !unknown && !previousUnknown && !mayJoin(previous, c) {
                flush(word, segmentStart..<i, symbolsFrom: segmentSymbols, into: &out, scratch: &scratch)
                segmentStart = i
                segmentSymbols = scratch.symbols.count
            }
            if !unknown {
                scratch.symbols.append(id)
            } else {
                appendUnknown(word, i..<min(i + length, n), scratch: &scratch, previousUnknown: previousUnknown && i > 0)
            }
            previous = c
            previousUnknown = unknown
            i += length
        }
        flush(word, segmentStart..<n, symbolsFrom: segmentSymbols, into: &out, scratch: &scratch)
    }

    /// The symbols of a character missing from the vocabulary: its byte tokens, the unknown token, or nothing.
    private func appendUnknown(_ word: UnsafeBufferPointer<UInt8>, _ bytes: Range<Int>, scratch: inout BPEScratch, previousUnknown: Bool) {
        if !fallbackIds.isEmpty, bytes.allSatisfy({ fallbackIds[Int(word[$0])] >= 0 }) {
            for k in bytes { scratch.symbols.append(fallbackIds[Int(word[k])]) }
            scratch.lastWasUnknownToken = false
            return
        }
        guard let unknownId else { return }
        if fuseUnknown && previousUnknown && scratch.lastWasUnknownToken && scratch.symbols.last == unknownId { return }
        scratch.symbols.append(unknownId)
        scratch.lastWasUnknownToken = true
    }

    /// Merges the symbols of one segment (cached by its bytes) and appends them.
    private func flush(_ word: UnsafeBufferPointer<UInt8>, _ bytes: Range<Int>, symbolsFrom first: Int, into out: inout [Int32], scratch: inout BPEScratch) {
        let count = scratch.symbols.count - first
        if count <= 1 {
            if count == 1 { out.append(scratch.symbols[first]) }
            return
        }
        let segment = UnsafeBufferPointer(rebasing: word[bytes])
        let cacheable = segment.count <= SegmentCache.maxSegmentBytes
        var h: UInt64 = 0
        if cacheable {
            h = SegmentCache.hash(segment)
            if scratch.cache.append(segment, hash: h, to: &out) { return }
        }
        let start = out.count
        mergeAll(first..<scratch.symbols.count, into: &out, scratch: &scratch)
        if cacheable { scratch.cache.insert(segment, hash: h, result: out[start...]) }
    }

    /// Applies merges to `scratch.symbols[range]`: the adjacent pair of lowest (rank, position) first, as the
    /// library's priority queue orders them; appends the result.
    private func mergeAll(_ range: Range<Int>, into out: inout [Int32], scratch: inout BPEScratch) {
        let n = range.count
        if n <= 16 { return mergeSmall(range, into: &out, scratch: &scratch) }
        scratch.id.removeAll(keepingCapacity: true)
        scratch.id.append(contentsOf: scratch.symbols[range])
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        for k in 0..<n {
            scratch.next.append(Int32(k + 1 < n ? k + 1 : -1))
            scratch.prev.append(Int32(k - 1))
        }
        scratch.heap.removeAll(keepingCapacity: true)
        for p in 0..<(n - 1) {
            if let m = merges.lookup(scratch.id[p], scratch.id[p + 1]) { scratch.pushMerge(rank: m.rank, position: p) }
        }
        while let top = scratch.popMerge() {
            let p = Int(top & 0xFFFF_FFFF), rank = Int32(truncatingIfNeeded: top >> 32)
            let q = Int(scratch.next[p])
            // Skip entries whose symbol was merged away or whose pair has changed since it was queued.
            guard q >= 0, scratch.id[p] >= 0, let m = merges.lookup(scratch.id[p], scratch.id[q]), m.rank == rank else { continue }
            scratch.id[p] = m.merged
            scratch.id[q] = -1
            let after = scratch.next[q]
            scratch.next[p] = after
            if after >= 0 { scratch.prev[Int(after)] = Int32(p) }
            let before = Int(scratch.prev[p])
            if before >= 0, let m2 = merges.lookup(scratch.id[before], scratch.id[p]) { scratch.pushMerge(rank: m2.rank, position: before) }
            if after >= 0, let m2 = merges.lookup(scratch.id[p], scratch.id[Int(after)]) { scratch.pushMerge(rank: m2.rank, position: p) }
        }
        var k = 0
        while k >= 0 {
            out.append(scratch.id[k])
            k = Int(scratch.next[k])
        }
    }
}

extension BPEModel {
    /// `mergeAll` for a few symbols without a heap: the same order (lowest rank, then leftmost; positions keep
    /// their order as symbols merge, so leftmost now is lowest original position), found by scanning the pairs'
    /// ranks, of which only the two beside a merge change.
    fileprivate func mergeSmall(_ range: Range<Int>, into out: inout [Int32], scratch: inout BPEScratch) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * range.count) { buffer in
            let ids = buffer.baseAddress!, ranks = buffer.baseAddress! + range.count
            var n = 0
            for k in range {
                ids[n] = scratch.symbols[k]
                n += 1
            }
            @inline(__always) func rank(_ k: Int) -> Int32 { merges.lookup(ids[k], ids[k + 1])?.rank ?? Int32.max }
            for k in 0..<(n - 1) { ranks[k] = rank(k) }
            while n > 1 {
                var best = 0
                for k in 1..<(n - 1) where ranks[k] < ranks[best] { best = k }
                guard ranks[best] != Int32.max, let m = merges.lookup(ids[best], ids[best + 1]) else { break }
                ids[best] = m.merged
                for k in (best + 1)..<(n - 1) { ids[k] = ids[k + 1] }
                for k in (best + 1)..<max(n - 2, best + 1) { ranks[k] = ranks[k + 1] }
                n -= 1
                if best + 1 < n { ranks[best] = rank(best) }
                if best > 0 { ranks[best - 1] = rank(best - 1) }
            }
            for k in 0..<n { out.append(ids[k]) }
        }
    }
}

/// Reusable buffers of one `encode` call.
struct BPEScratch {
    var symbols: [Int32] = []
    var lastWasUnknownToken = false
    var id: [Int32] = [], next: [Int32] = [], prev: [Int32] = []
    /// A binary min-heap of (rank << 32 | position).
    var heap: [UInt64] = []
    var cache = SegmentCache()

    mutating func pushMerge(rank: Int32, position: Int) {
        heap.append(UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(position))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) >> 1
            guard heap[i] < heap[parent] else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func popMerge() -> UInt64? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && heap[l + 1] < heap[l] { m = l + 1 }
                guard heap[m] < heap[i] else { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

/// Two upper-case hex digits.
func hexByte(_ b: Int) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[b >> 4], digits[b & 15]])
}
