import BFFNCore
import BFFNKernels

/// How the KV cache stores keys and values (formats/numerics.md, "KV cache").
public enum KVCachePrecision: String, Sendable, CaseIterable {
    /// Float32: keys and values exactly as computed (the default and the reference).
    case float32 = "f32"
    /// bf16: every key and value rounded to the nearest bf16 (ties to even; NaN stays NaN) when it is cached and
    /// widened exactly when attention reads it; attention reads half the bytes. Scores, softmax and the value sums
    /// stay float32 in the same order, so batch invariance and speculative decoding's identity hold as before.
    case bf16

    /// Bytes one cached number takes.
    public var bytes: Int { self == .float32 ? 4 : 2 }
}

/// One layer's cached keys (or values), kept as parts that each hold one head's numbers (or MLA's shared rotary
/// key) slot after slot, so that attention walks a head's part in memory order whatever slots it visits; float32
/// or bf16.
final class KVRows {
    let precision: KVCachePrecision
    /// Numbers a slot in each part, in the order a slot's numbers are appended.
    let widths: [Int]
    private var parts: [KVPart]

    init(_ precision: KVCachePrecision, widths: [Int]) {
        self.precision = precision
        self.widths = widths
        parts = widths.map { KVPart(width: $0, bytes: precision.bytes) }
    }

    /// Slots held.
    var slots: Int { parts.first?.slots ?? 0 }
    /// Bytes allocated, capacity included.
    var capacityBytes: Int { parts.reduce(0) { $0 + $1.capacityBytes } }

    /// Appends slots: `values` holds each slot's numbers, part after part (rounded to bf16 when the cache is).
    func append(_ values: [Float]) {
        let width = widths.reduce(0, +)
        precondition(width > 0 && values.count % width == 0, "appended numbers are whole slots")
        values.withUnsafeBufferPointer { v in
            for s in 0..<(values.count / width) {
                var at = s * width
                for (p, part) in parts.enumerated() {
                    part.append(v.baseAddress! + at)
                    at += widths[p]
                }
            }
        }
    }

    /// Keeps the first `n` slots.
    func keep(slots n: Int) { for part in parts { part.keep(n) } }

    /// Copies slot `source`'s numbers over slot `target`'s (the same bits).
    func copy(slot source: Int, to target: Int) { for part in parts { part.copy(source, to: target) } }

    /// Number `j` of slot `s` in part `p`, widened (tests).
    func number(part p: Int, slot s: Int, _ j: Int) -> Float { parts[p].number(s, j) }

    /// The base address of each part (valid until the next append; read-only).
    var bases: [UnsafeRawPointer] { parts.map { UnsafeRawPointer($0.base) } }
}

/// A growable buffer of slots of `width` numbers, each `bytes` bytes (float32 or bf16), 64-byte aligned.
final class KVPart {
    let width: Int, bytes: Int
    private(set) var base: UnsafeMutableRawPointer
    private(set) var slots = 0
    private var capacity = 0

    init(width: Int, bytes: Int) {
        self.width = width
        self.bytes = bytes
        base = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    }

    deinit { base.deallocate() }

    var capacityBytes: Int { capacity * width * bytes }

    /// Appends one slot from `values` (`width` floats), rounded to bf16 when the part holds bf16 (2 bytes a number).
    func append(_ values: UnsafePointer<Float>) {
        if slots == capacity {
            let grown = max(16, capacity * 2)
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: max(64, grown * width * bytes), alignment: 64)
            fresh.copyMemory(from: base, byteCount: slots * width * bytes)
            base.deallocate()
            base = fresh
            capacity = grown
        }
        let at = base + slots * width * bytes
        if bytes == 2 {
            let h = at.assumingMemoryBound(to: UInt16.self)
            for j in 0..<width { h[j] = ScalarConversion.floatToBF16(values[j]) }
        } else {
            at.copyMemory(from: values, byteCount: width * 4)
        }
        slots += 1
    }

    func keep(_ n: Int) {
        precondition(n >= 0 && n <= slots, "keep(\(n)) beyond \(slots) slots")
        slots = n
    }

    func copy(_ source: Int, to target: Int) {
        (base + target * width * bytes).copyMemory(from: base + source * width * bytes, byteCount: width * bytes)
    }

    func number(_ s: Int, _ j: Int) -> Float {
        let at = s * width + j
        return bytes == 4 ? base.load(fromByteOffset: at * 4, as: Float.self)
                          : ScalarConversion.bf16ToFloat(base.load(fromByteOffset: at * 2, as: UInt16.self))
    }
}
