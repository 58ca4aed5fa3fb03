import CBlockFFNUnpack

/// Loads q5k rows (formats/bfpk.md, "Q5K rows"): per super-block b of 256 elements the float16 d at byte 2b, then
/// the 6-bit sub-block scales (sc_j at bit 6j of the table), the low nibbles of the codes, then their fifth bits (bit
/// i mod 8 of plane byte i / 8). Element k of sub-block j = k / 32 is (q − 16)·(d·sc_j): the q8 formula with an
/// exact float32 scale, so the float kernels give what a q8/g32 row with those scales and codes gives.
public struct Q5KLoader: SubBlockScaledLoader {
    /// Where the sub-block table, the nibbles and the high bits start in a row.
    public let tableOffset: Int, lowOffset: Int, highOffset: Int
    public init(cols: Int) {
        tableOffset = (cols + 255) / 256 * 2
        lowOffset = tableOffset + (6 * (cols / 32) + 7) / 8
        highOffset = lowOffset + cols / 2
    }

    /// Sub-block j's scale d·sc_j.
    @inlinable @inline(__always)
    public func scale(_ w: UnsafeRawPointer, _ j: Int) -> Float {
        let d = Float(Float16(bitPattern: w.loadUnaligned(fromByteOffset: (j &>> 3) &* 2, as: UInt16.self)))
        return d * Float(sixBitField(w, table: tableOffset, j))
    }

    /// The eight codes q − 16 from element k (a multiple of 8).
    @inlinable @inline(__always)
    public func codes8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let low = bffn_unpack_nibbles8(w + (lowOffset &+ (k &>> 1))), high = bffn_unpack_bits8(w + (highOffset &+ (k &>> 3)))
        return low.addingProduct(high, SIMD8<Float>(repeating: 16)) - 16
    }

    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        let byte = w.loadUnaligned(fromByteOffset: lowOffset + k / 2, as: UInt8.self)
        let high = w.loadUnaligned(fromByteOffset: highOffset + k / 8, as: UInt8.self) >> (k % 8) & 1
        let q = Int(k % 2 == 0 ? byte & 15 : byte >> 4) | Int(high) << 4
        return Float(q - 16) * scale(w, k / 32)
    }
}
