import BFFNCore

/// Remembers the BPE result of short segments for the length of one `encode` call: text repeats its words, so
/// most segments are found here instead of merged again. A pure memo of a pure function: results never depend
/// on what is cached. Bounded: it empties itself when full.
struct SegmentCache {
    /// Segments longer than this many bytes are merged every time.
    static let maxSegmentBytes = 96
    private static let slotCount = 1 << 17
    private var slots = [Int32](repeating: -1, count: slotCount)
    private var entryHash: [UInt64] = []
    private var entryBytes: [(start: Int32, count: Int32)] = []
    private var entryIds: [(start: Int32, count: Int32)] = []
    private var bytes: [UInt8] = []
    private var ids: [Int32] = []

    init() {
        entryHash.reserveCapacity(Self.slotCount / 2)
    }

    /// FNV-1a over the bytes.
    @inline(__always) static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }

    /// Appends the cached ids of `segment` (whose hash is `h`) to `out`; false when it is not cached.
    @inline(__always) func append(_ segment: UnsafeBufferPointer<UInt8>, hash h: UInt64, to out: inout [Int32]) -> Bool {
        var i = Int(truncatingIfNeeded: h >> 17) & (Self.slotCount - 1)
        while true {
            let e = Int(slots[i])
            if e < 0 { return false }
            if entryHash[e] == h, Int(entryBytes[e].count) == segment.count {
                let start = Int(entryBytes[e].start)
                let same = bytes.withUnsafeBufferPointer { all in
                    memcmpBytes(all.baseAddress! + start, segment.baseAddress!, segment.count)
                }
                if same {
                    let r = entryIds[e]
                    out.append(contentsOf: ids[Int(r.start)..<Int(r.start + r.count)])
                    return true
                }
            }
            i = (i + 1) & (Self.slotCount - 1)
        }
    }

    /// Remembers `result` for `segment` (hash `h`).
    mutating func insert(_ segment: UnsafeBufferPointer<UInt8>, hash h: UInt64, result: ArraySlice<Int32>) {
        if entryHash.count >= Self.slotCount / 2 { self = SegmentCache() }
        var i = Int(truncatingIfNeeded: h >> 17) & (Self.slotCount - 1)
        while slots[i] >= 0 { i = (i + 1) & (Self.slotCount - 1) }
        slots[i] = Int32(entryHash.count)
        entryHash.append(h)
        entryBytes.append((Int32(bytes.count), Int32(segment.count)))
        bytes.append(contentsOf: segment)
        entryIds.append((Int32(ids.count), Int32(result.count)))
        ids.append(contentsOf: result)
    }
}

/// Whether the `n` bytes at `a` and `b` are equal.
@inline(__always) func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    memcmp(a, b, n) == 0
}

/// The Unicode scalar value of the UTF-8 character starting at byte `i` of `text` (valid UTF-8), and its length
/// in bytes.
@inline(__always) func utf8Scalar(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> (value: UInt32, length: Int) {
    var c = UInt32(text[i]), length = 1
    if c >= 0x80 {
        if c >= 0xF0 { length = 4; c &= 0x07 } else if c >= 0xE0 { length = 3; c &= 0x0F } else { length = 2; c &= 0x1F }
        for k in 1..<length where i + k < text.count { c = c << 6 | UInt32(text[i + k] & 0x3F) }
    }
    return (c, length)
}
