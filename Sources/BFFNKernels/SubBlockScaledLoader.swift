/// A super-block loader whose elements are integer codes times the scale of their sub-block of 32 (q5k, q6k): it
/// says how to read a sub-block's scale and eight codes, and `load8` / `load32` follow from those, the scale read
/// once per 32 elements.
public protocol SubBlockScaledLoader: WeightLoader {
    /// Sub-block j's scale (the float16 super-block scale times the sub-block's integer scale, exact in float32).
    func scale(_ w: UnsafeRawPointer, _ j: Int) -> Float
    /// The eight codes of elements k ..< k + 8 (k a multiple of 8) as integers in Float, before the scale.
    func codes8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float>
}

extension SubBlockScaledLoader {
    @inlinable @inline(__always)
    public func load8(_ w: UnsafeRawPointer, _ k: Int) -> SIMD8<Float> { codes8(w, k) * scale(w, k &>> 5) }

    /// As four `load8` calls, the sub-block's scale read once.
    @inlinable @inline(__always)
    public func load32(_ w: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let s = scale(w, k &>> 5)
        return (codes8(w, k) * s, codes8(w, k &+ 8) * s, codes8(w, k &+ 16) * s, codes8(w, k &+ 24) * s)
    }
}

/// Field j of a table of 6-bit fields starting at `table` bytes into the row (bits 6j ... 6j + 5 of the table read as
/// one little-endian bit string): the scale tables of q5k and q3k rows.
@inlinable @inline(__always)
func sixBitField(_ w: UnsafeRawPointer, table: Int, _ j: Int) -> Int {
    let bit = j &* 6
    let pair = Int(w.loadUnaligned(fromByteOffset: table &+ (bit &>> 3), as: UInt8.self))
        | Int(w.loadUnaligned(fromByteOffset: table &+ (bit &>> 3) &+ 1, as: UInt8.self)) &<< 8
    return (pair &>> (bit & 7)) & 63
}
