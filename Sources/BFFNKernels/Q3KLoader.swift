import CBlockFFNUnpack

/// Loads q3k rows (formats/bfpk.md, "Q3K rows"): per super-block b of 256 elements the float16 d at byte 2b, then the
/// 6-bit fields of the sub-blocks of 16 (field j at bit 6j of the table: the scale sc_j in bits 0-4, the mirror bit
/// in bit 5), the low two bits of the codes (bits 2(i mod 4) of plane byte i / 4), then their third bits (bit i mod 8
/// of plane byte i / 8). Element k of sub-block j = k / 16 is c·(d·sc_j) with c = u − 4, or 4 − u when mirrored: the
/// symmetric q4 formula (nibble c + 8) with an exact float32 scale, so the float kernels give what a q4/g16/sym row
/// with those scales and nibbles gives (a zero code is +0 either way).
public struct Q3KLoader: WeightLoader {
    /// Where the sub-block table, the low bit pairs and the high bits start in a row.
    public let tableOffset: Int, lowOffset: Int, highOffset: Int
    public init(cols: Int) {
        tableOffset = (cols + 255) / 256 * 2
        lowOffset = tableOffset + (6 * (cols / 16) + 7) / 8
        highOffset = lowOffset + cols / 4
    }

    /// Sub-block j's scale d·sc_j and its sign: +1, or −1 when mirrored.
    @inlinable @inline(__always)
    public func scaleAndSign(_ w: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        let d = Float(Float16(bitPattern: w.loadUnaligned(fromByteOffset: (j &>> 4) &* 2, as: UInt16.self)))
        let f = sixBitField(w, table: tableOffset, j)
        return (d * Float(f & 31), f & 32 == 0 ? 1 : -1)
    }

    /// The eight codes c from element k (a multiple of 8) of a sub-block with sign `sign`: sign·u − 4·sign (exact;
    /// a zero code is +0).
    @inlinable @inline(__always)
    func codes8(_ w: UnsafeRawPointer, _ k: Int, _ sign: Float) -> SIMD8<Float> {
        let u = bffn_unpack_pairs8(w + (lowOffset &+ (k &>> 2))).addingProduct(bffn_unpack_bits8(w + (highOffset &+ (k &>> 3))), SIMD8<Float>(repeating: 4))
        return SIMD8<Float>(repeating: -4 * sign).addingProduct(u, SIMD8<Float>(repeating: sign))
    }

    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let (s, sign) = scaleAndSign(w, k &>> 4)
        return codes8(w, k, sign) * s
    }

    /// As four `load8` calls, each sub-block's scale read once.
    @inlinable @inline(__always)
    public func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let (s0, sign0) = scaleAndSign(w, k &>> 4), (s1, sign1) = scaleAndSign(w, (k &>> 4) &+ 1)
        return (codes8(w, k, sign0) * s0, codes8(w, k &+ 8, sign0) * s0, codes8(w, k &+ 16, sign1) * s1, codes8(w, k &+ 24, sign1) * s1)
    }

    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        let (s, sign) = scaleAndSign(w, k / 16)
        let low = w.loadUnaligned(fromByteOffset: lowOffset + k / 4, as: UInt8.self) >> (2 * (k % 4)) & 3
        let high = w.loadUnaligned(fromByteOffset: highOffset + k / 8, as: UInt8.self) >> (k % 8) & 1
        let u = Int(low) | Int(high) << 2
        return Float(sign < 0 ? 4 - u : u - 4) * s
    }
}
