import BFFNCore
import CBlockFFNBF16Dot
import CBlockFFNIntDot

/// How activations meet quantized (q8 / q4) weights in the matrix products (formats/numerics.md).
public enum ActivationPrecision: String, Sendable {
    /// Float32 activations times dequantized weights, in `Dot`'s order (the exact path).
    case float
    /// Activations quantized to int8 per block once per call, int32 block sums scaled in float in block order
    /// (`IntegerDot`). Float weights always use the float path.
    case int8
    /// Activations rounded to bf16 once per call and bf16 dot products (`BF16Dot`) for bf16 weights; other weights
    /// use the float path.
    case bf16
}

/// bf16 products of bf16-rounded activations with bf16 rows repacked into tiles (formats/numerics.md, "bf16").
public enum BF16Dot {
    /// "avx512-bf16" when the products use the instruction, else "emulated".
    public static var instructionSet: String { bffn_bf16dot_hardware() != 0 ? "avx512-bf16" : "emulated" }

    /// Uses the instruction (`hardware`, where the CPU has it) or the emulation; returns whether the instruction
    /// is in use (tests compare the two).
    @discardableResult
    public static func useHardware(_ hardware: Bool) -> Bool { bffn_bf16dot_use_hardware(hardware ? 1 : 0) != 0 }

    /// `tokens` rows of `width` floats (`stride` apart) rounded to bf16, `width` apart.
    static func round(_ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int) -> UnsafeMutablePointer<UInt16> {
        let out = UnsafeMutablePointer<UInt16>.allocate(capacity: max(tokens * width, 1))
        for t in 0..<tokens { bffn_round_bf16(x + t * stride, width, out + t * width) }
        return out
    }

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
        let n = x.count / max(rows.count, 1)
        let list = TiledMatrices(rows.map { WeightTiles(WeightMatrix(base: $0, type: .bf16, rows: 1, cols: n)) })
        return x.withUnsafeBufferPointer { xp in
            let xb = round(xp.baseAddress!, tokens: 1, stride: x.count, width: x.count)
            defer { xb.deallocate() }
            var out: Float = 0
            product(list, matrices: 0..<rows.count, tiles: 0..<1, x: xb, xStride: x.count, tokens: 1, out: &out, outStride: 1)
            return withExtendedLifetime(list) { out }
        }
    }
}

/// The int8 form of T activation rows for one weight layout (formats/numerics.md, "int8"): codes in element order,
/// one scale and one code sum per block, and for q4 asymmetric weights one sum per weight group. Rows may be cut
/// into segments (the experts of a down projection's union) whose blocks and groups restart at each segment.
final class QuantizedActivations {
    let tokens: Int, width: Int, block: Int
    /// The row kind (`BFFN_INTDOT_Q8`, `..._Q4_SYMMETRIC`, `..._Q4_ASYMMETRIC`) and weight group.
    let kind: Int32, group: Int
    /// Blocks and groups per row of every token.
    let blocksPerRow: Int, groupsPerRow: Int
    let codes: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Int32>
    let groupSums: UnsafeMutablePointer<Float>?

    /// Quantizes `tokens` rows of `width` floats (`stride` apart) for weight rows of `type` whose segments have
    /// `segment` elements (`width` for one segment); several tokens are split over up to `threads` threads (each
    /// token's codes are the same whoever computes them).
    init(_ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int, segment: Int, type: StorageType, threads: Int = 1) {
        let group = type.group(cols: segment)!
        let block = bffn_activation_block(segment, group)
        self.tokens = tokens
        self.width = width
        self.block = block
        self.group = group
        kind = IntegerDot.kind(type)
        let segments = width / segment
        let groupsPerSegment = segment / group, blocksPerSegment = groupsPerSegment * ((group + block - 1) / block)
        let blocksPerRow = blocksPerSegment * segments, groupsPerRow = groupsPerSegment * segments
        self.blocksPerRow = blocksPerRow
        self.groupsPerRow = groupsPerRow
        let codes = UnsafeMutablePointer<Int8>.allocate(capacity: max(tokens * width, 1))
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: max(tokens * blocksPerRow, 1))
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: max(tokens * blocksPerRow, 1))
        let groupSums: UnsafeMutablePointer<Float>? = kind == Int32(BFFN_INTDOT_Q4_ASYMMETRIC) ? .allocate(capacity: max(tokens * groupsPerRow, 1)) : nil
        (self.codes, self.scales, self.sums, self.groupSums) = (codes, scales, sums, groupSums)
        let quantize: (Int) -> Void = { t in
            for s in 0..<segments {
                let b = t * blocksPerRow + s * blocksPerSegment
                bffn_quantize_activations(x + t * stride + s * segment, segment, group, block, codes + t * width + s * segment,
                                          scales + b, sums + b, groupSums.map { $0 + t * groupsPerRow + s * groupsPerSegment })
            }
        }
        let parts = threads > 1 && tokens >= 4 && tokens * width >= 1 << 14 ? min(threads, tokens) : 1
        if parts == 1 {
            for t in 0..<tokens { quantize(t) }
        } else {
            WorkerPool.shared.run(parts: parts, threads: threads) { p in
                for t in (tokens * p / parts)..<(tokens * (p + 1) / parts) { quantize(t) }
            }
        }
    }

    /// The C view of these activations (valid while `self` lives).
    var view: bffn_int8_activations {
        bffn_int8_activations(codes: codes, scales: scales, sums: sums, group_sums: groupSums, code_stride: width,
                              block_stride: blocksPerRow, group_stride: groupsPerRow, tokens: tokens, block: block)
    }

    deinit {
        codes.deallocate()
        scales.deallocate()
        sums.deallocate()
        groupSums?.deallocate()
    }
}

/// Integer products of quantized activations with q8 / q4 rows repacked into tiles (formats/numerics.md); every
/// instruction set gives the same bits.
public enum IntegerDot {
    /// The instruction set in use: "portable", "avx2", "avx512-vnni" or "avx-vnni".
    public static var instructionSet: String { String(cString: bffn_intdot_level_name(bffn_intdot_level())) }

    /// Switches to `name` ("portable", "avx2", "avx512-vnni", "avx-vnni") when this CPU has it, else to the best it
    /// has; returns the one in use (tests compare them).
    @discardableResult
    public static func use(_ name: String) -> String {
        let level = ["portable": 0, "avx2": 1, "avx512-vnni": 2, "avx-vnni": 3][name] ?? 0
        return String(cString: bffn_intdot_level_name(bffn_intdot_use_level(Int32(level))))
    }

    /// The best instruction set of this CPU.
    public static func useBest() { bffn_intdot_use_level(9) }

    /// Whether rows of `type` take integer products (q8 and q4).
    public static func applies(to type: StorageType) -> Bool {
        switch type {
        case .q8, .q4: return true
        case .f32, .f16, .bf16: return false
        }
    }

    /// The C kind of q8 / q4 rows.
    static func kind(_ type: StorageType) -> Int32 {
        switch type {
        case .q8: return Int32(BFFN_INTDOT_Q8)
        case .q4(_, let asymmetric): return Int32(asymmetric ? BFFN_INTDOT_Q4_ASYMMETRIC : BFFN_INTDOT_Q4_SYMMETRIC)
        default: preconditionFailure("integer products are for q8 and q4 rows")
        }
    }

    /// The tiles of `w`: its own (`WeightMatrix.withTiles()`), else repacked now for this call.
    static func tiles(_ w: WeightMatrix) -> WeightTiles { w.tiles ?? WeightTiles(w) }

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
        let n = x.count / max(rows.count, 1)
        let list = TiledMatrices(rows.map { WeightTiles(WeightMatrix(base: $0, type: type, rows: 1, cols: n)) })
        return x.withUnsafeBufferPointer { xp in
            let q = QuantizedActivations(xp.baseAddress!, tokens: 1, stride: x.count, width: x.count, segment: n, type: type)
            var out: Float = 0
            product(list, matrices: 0..<rows.count, tiles: 0..<1, q, out: &out, outStride: 1)
            return withExtendedLifetime((q, list)) { out }
        }
    }
}

/// The tiled matrices of one product (one matrix, the experts of an up projection, or a down projection's union in
/// order) with the C list of their first bytes, made once per product rather than once per thread's part.
final class TiledMatrices {
    let mats: [WeightTiles]
    let bases: UnsafeMutablePointer<UnsafePointer<UInt8>?>

    /// The tiles of `matrices` (their own, or repacked now: `IntegerDot.tiles`).
    convenience init(_ matrices: [WeightMatrix]) { self.init(matrices.map(IntegerDot.tiles)) }

    init(_ mats: [WeightTiles]) {
        self.mats = mats
        bases = .allocate(capacity: max(mats.count, 1))
        for (i, m) in mats.enumerated() { bases[i] = m.base }
    }

    deinit { bases.deallocate() }
}
