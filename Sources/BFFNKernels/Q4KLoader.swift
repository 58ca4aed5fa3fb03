import CBlockFFNUnpack

/// Loads q4k rows (formats/bfpk.md, "Q4K rows"): per super-block b of 256 elements the float16 d and dmin at bytes
/// 4b and 4b + 2, then the 12-bit fields of the sub-blocks (field j: sc_j in bits 0-5, m_j in bits 6-11, at bit 12j
/// of the table), then the nibbles. Element k of sub-block j = k / 32 is fma(q, d·sc_j, 0 − dmin·m_j): the q4
/// asymmetric formula with an exact float32 scale and offset, so the float kernels give what a q4/g32/asym row with
/// those scales gives.
public struct Q4KLoader: WeightLoader {
    /// Where the sub-block table and the codes start in a row.
    public let tableOffset: Int, dataOffset: Int
    public init(cols: Int) {
        tableOffset = (cols + 255) / 256 * 4
        dataOffset = tableOffset + (3 * (cols / 32) + 1) / 2
    }

    /// Sub-block j's scale d·sc_j and offset 0 − dmin·m_j.
    @inlinable @inline(__always)
    public func scaleAndOffset(_ w: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        let b = (j &>> 3) &* 4
        let d = Float(Float16(bitPattern: w.loadUnaligned(fromByteOffset: b, as: UInt16.self)))
        let dmin = Float(Float16(bitPattern: w.loadUnaligned(fromByteOffset: b &+ 2, as: UInt16.self)))
        let field = Int(w.loadUnaligned(fromByteOffset: tableOffset &+ (j &* 3) &>> 1, as: UInt16.self)) &>> ((j & 1) &* 4)
        return (d * Float(field & 63), 0 - dmin * Float((field &>> 6) & 63))
    }

    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> {
        let (s, o) = scaleAndOffset(w, k &>> 5)
        let q = bffn_unpack_nibbles8(w + (dataOffset &+ (k &>> 1)))
        return SIMD8<Float>(repeating: o).addingProduct(q, SIMD8<Float>(repeating: s))
    }

    /// As four `load8` calls, the sub-block's scale and offset read once.
    @inlinable @inline(__always)
    public func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let (s, o) = scaleAndOffset(w, k &>> 5)
        let scale = SIMD8<Float>(repeating: s), offset = SIMD8<Float>(repeating: o)
        let codes = w + (dataOffset &+ (k &>> 1))
        return (offset.addingProduct(bffn_unpack_nibbles8(codes), scale), offset.addingProduct(bffn_unpack_nibbles8(codes + 4), scale),
                offset.addingProduct(bffn_unpack_nibbles8(codes + 8), scale), offset.addingProduct(bffn_unpack_nibbles8(codes + 12), scale))
    }

    @inlinable @inline(__always)
    public func load1(_ w: UnsafeRawPointer, _ k: Int) -> Float {
        let (s, o) = scaleAndOffset(w, k / 32)
        let byte = w.loadUnaligned(fromByteOffset: dataOffset + k / 2, as: UInt8.self)
        return o.addingProduct(Float(k % 2 == 0 ? byte & 15 : byte >> 4), s)
    }
}
