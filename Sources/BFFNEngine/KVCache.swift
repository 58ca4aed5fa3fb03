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

/// One layer's cached keys (or values), slot after slot, stored as float32 or bf16.
struct KVRows {
    let precision: KVCachePrecision
    private var floats: [Float] = []
    private var halves: [UInt16] = []

    init(_ precision: KVCachePrecision) { self.precision = precision }

    /// Numbers held (slots x numbers a slot).
    var count: Int { precision == .float32 ? floats.count : halves.count }
    /// Bytes allocated, capacity included.
    var capacityBytes: Int { floats.capacity * 4 + halves.capacity * 2 }

    /// Appends `values` (rounded to bf16 when the cache is bf16).
    mutating func append(_ values: [Float]) {
        if precision == .float32 {
            floats.append(contentsOf: values)
        } else {
            halves.append(contentsOf: values.lazy.map(ScalarConversion.floatToBF16))
        }
    }

    /// Keeps the first `n` numbers.
    mutating func keep(_ n: Int) {
        if precision == .float32 { floats.removeSubrange(n...) } else { halves.removeSubrange(n...) }
    }

    /// Copies `count` numbers from index `source` to index `target` (the same bits).
    mutating func copy(_ count: Int, from source: Int, to target: Int) {
        if precision == .float32 {
            for j in 0..<count { floats[target + j] = floats[source + j] }
        } else {
            for j in 0..<count { halves[target + j] = halves[source + j] }
        }
    }

    /// The number at `index`, widened (tests).
    subscript(index: Int) -> Float {
        precision == .float32 ? floats[index] : ScalarConversion.bf16ToFloat(halves[index])
    }

    /// Runs `body` with the storage's base address (read-only while it runs).
    func withBytes<R>(_ body: (UnsafeRawPointer) -> R) -> R {
        if precision == .float32 {
            return floats.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!) }
        }
        return halves.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!) }
    }
}
