import CBlockFFNIntDot

/// Integer products of quantized activations with q8 / q4 rows repacked into tiles (formats/numerics.md); every
/// instruction set gives the same bits.
public enum IntegerDot {
    /// The instruction set in use: one of `instructionSets`.
    public static var instructionSet: String { String(cString: bffn_intdot_level_name(bffn_intdot_level())) }

    /// Every instruction set the kernels know, portable first (the C levels in order): "portable"; on x86-64 "avx2",
    /// "avx512-vnni", "avx-vnni"; on AArch64 "neon" (ARMv8.0), "neon-dotprod", "neon-i8mm".
    public static let instructionSets: [String] = (0...6).map { String(cString: bffn_intdot_level_name(Int32($0))) }

    /// Switches to `name` (one of `instructionSets`) when this CPU has it; else, for a set this CPU lacks or a
    /// name that is none of them, to the best it has (as `bffn_intdot_use_level` does for an unknown level);
    /// returns the one in use (tests compare them).
    @discardableResult
    public static func use(_ name: String) -> String {
        let level = instructionSets.firstIndex(of: name) ?? -1
        return String(cString: bffn_intdot_level_name(bffn_intdot_use_level(Int32(level))))
    }

    /// The best instruction set of this CPU.
    public static func useBest() { bffn_intdot_use_level(9) }

    /// Whether rows of `type` take integer products (q8, q4 and the super-block types).
    public static func applies(to type: StorageType) -> Bool {
        switch type {
        case .q8, .q4, .q4k, .q5k, .q6k, .q3k: return true
        case .f32, .f16, .bf16: return false
        }
    }

    /// The C kind of q8 / q4 / q3k ... q6k rows (q4k: tiled and computed as q4 asymmetric in groups of 32; q5k and q6k:
    /// as q8 in groups of 32; q3k: as q4 symmetric in groups of 16).
    static func kind(_ type: StorageType) -> Int32 {
        switch type {
        case .q8: return Int32(BFFN_INTDOT_Q8)
        case .q4(_, let asymmetric): return Int32(asymmetric ? BFFN_INTDOT_Q4_ASYMMETRIC : BFFN_INTDOT_Q4_SYMMETRIC)
        case .q4k: return Int32(BFFN_INTDOT_Q4K)
        case .q5k: return Int32(BFFN_INTDOT_Q5K)
        case .q6k: return Int32(BFFN_INTDOT_Q6K)
        case .q3k: return Int32(BFFN_INTDOT_Q3K)
        default: preconditionFailure("integer products are for q8 and q4 rows")
        }
    }

    /// Tiles `range` of the matrices `matrices` of `list` (each of the same shape, matrix m against segment m of
    /// `q`), summed over the matrices in order: out[r + t * outStride] for the tiles' rows.
    static func product(_ list: TiledMatrices, matrices: Range<Int>, tiles range: Range<Int>, _ q: QuantizedActivations,
                        out: UnsafeMutablePointer<Float>, outStride: Int) {
        guard !range.isEmpty, !matrices.isEmpty else { return }
        let first = list.mats[matrices.lowerBound]
        var view = q.view
        bffn_tiles_product(first.kind, list.bases + matrices.lowerBound, matrices.count, range.lowerBound, range.upperBound, first.rows,
                           first.cols, first.group, &view, out, outStride)
    }

    /// x · row for `n` float activations (quantized here) and one stored q8 / q4 row, for tests and references:
    /// the same bits as the matrix products give.
    public static func dot(_ x: [Float], row: UnsafeRawPointer, type: StorageType) -> Float {
        dot(x, rows: [row], type: type)
    }

    /// The product of float activations (quantized here, one segment per row) with the concatenation of stored
    /// q8 / q4 rows (each `x.count / rows.count` elements): one output of a down projection over a union, as the
    /// matrix products compute it.
    public static func dot(_ x: [Float], rows: [UnsafeRawPointer], type: StorageType) -> Float {
        TileActivations.dot(.int8, x, rows: rows, type: type)
    }
}
