import CBlockFFNUnpack

/// Loads q6k rows (formats/bfpk.md, "Q6K rows"): per super-block b of 256 elements the float16 d at byte 2b, then one
/// byte sc_j per sub-block of 32, the low nibbles of the codes, then their two high bits (bits 2(i mod 4) and
/// 2(i mod 4) + 1 of plane byte i / 4). Element k of sub-block j = k / 32 is (u − 32)·(d·sc_j): the q8 formula with
/// an exact float32 scale, so the float kernels give what a q8/g32 row with those scales and codes gives.
public struct Q6KLoader: SubBlockScaledLoader {
    /// Where the sub-block scales, the nibbles and the high bit pairs start in a row.
    public let tableOffset: Int, lowOffset: Int, highOffset: Int
    public init(cols: Int) {
        tableOffset = (cols + 255) / 256 * 2
        lowOffset = tableOffset + cols / 32
        highOffset = lowOffset + cols / 2
    }

    /// Sub-block j's scale d·sc_j.
    @inlinable @inline(__always)
    public func scale(_ w: UnsafeRawPointer, _ j: Int) -> Float {
        let d = Float(Float16(bitPattern: w.loadUnaligned(fromByteOffset: (j &>> 3) &* 2, as: UInt16.self)))
        return d * Float(w.loadUnaligned(fromByteOffset: tableOffset &+ j, as: UInt8.self))
    }

    /// The eight codes u − 32 from element k (a multiple of 8).
    @inlinable @inline(__always)
    public func codes8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let low = bffn_unpack_nibbles8(w + (lowOffset &+ (k &>> 1))), high = bffn_unpack_pairs8(w + (highOffset &+ (k &>> 2)))
        return low.addingProduct(high, SIMD8<Float>(repeating: 16)) - 32
    }

    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        let byte = w.loadUnaligned(fromByteOffset: lowOffset + k / 2, as: UInt8.self)
        let high = w.loadUnaligned(fromByteOffset: highOffset + k / 4, as: UInt8.self) >> (2 * (k % 4)) & 3
        let u = Int(k % 2 == 0 ? byte & 15 : byte >> 4) | Int(high) << 4
        return Float(u - 32) * scale(w, k / 32)
    }
}
