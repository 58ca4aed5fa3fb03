import CBlockFFNBF16Dot

/// bf16 products of bf16-rounded activations with bf16 rows repacked into tiles (formats/numerics.md, "bf16").
public enum BF16Dot {
    /// The path in use: "avx512-bf16" (the instruction, x86-64), "avx2" (the emulation with AVX2 and FMA, other
    /// x86-64 CPUs), "neon" (the emulation in NEON, AArch64) or "emulated" (the portable emulation).
    public static var instructionSet: String { name(bffn_bf16dot_path()) }

    /// The C paths, in the order of `instructionSets`.
    static let paths: [Int32] = [BFFN_BF16_PATH_PORTABLE, BFFN_BF16_PATH_AVX512, BFFN_BF16_PATH_AVX2, BFFN_BF16_PATH_NEON].map { Int32($0) }

    /// Every path this build knows, the portable emulation first (whether this CPU has each: `use`).
    public static let instructionSets: [String] = paths.map(name)

    static func name(_ path: Int32) -> String {
        let name = String(cString: bffn_bf16dot_path_name_of(path))
        return name == "portable" ? "emulated" : name
    }

    /// Switches to the path `name` (one of `instructionSets`) where this CPU has it, else to the best it has;
    /// returns the path in use. Process-wide: no other thread may compute products meanwhile (tests, `bffn kernels`).
    @discardableResult
    public static func use(_ name: String) -> String {
        self.name(bffn_bf16dot_use_path(instructionSets.firstIndex(of: name).map { paths[$0] } ?? -1))
    }

    /// Switches back to the best path this CPU has.
    public static func useBest() { _ = bffn_bf16dot_use_path(-1) }

    /// Tiles `range` of the matrices `matrices` of `list` (bf16, each of the same shape; matrix m against segment m
    /// of each token's rounded activations, rows `xStride` apart), summed over the matrices in order:
    /// out[r + t * outStride] for the tiles' rows.
    static func product(_ list: TiledMatrices, matrices: Range<Int>, tiles range: Range<Int>, x: UnsafePointer<UInt16>, xStride: Int,
                        tokens: Int, out: UnsafeMutablePointer<Float>, outStride: Int) {
        guard !range.isEmpty, !matrices.isEmpty else { return }
        let first = list.mats[matrices.lowerBound]
        bffn_bf16_tiles_product(list.bases + matrices.lowerBound, matrices.count, range.lowerBound, range.upperBound, first.rows, first.cols,
                                x, xStride, tokens, out, outStride)
    }

    /// x · row for float activations (rounded here) and a bf16 row, for tests: the same bits as the matrix products.
    public static func dot(_ x: [Float], row: UnsafePointer<UInt16>) -> Float { dot(x, rows: [row]) }

    /// Float activations (rounded here, one segment per row) times the concatenation of bf16 rows (each
    /// `x.count / rows.count` elements): one output of a down projection over a union, as the products compute it.
    public static func dot(_ x: [Float], rows: [UnsafePointer<UInt16>]) -> Float {
        TileActivations.dot(.bf16, x, rows: rows.map { UnsafeRawPointer($0) }, type: .bf16)
    }
}
