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

/// bf16 dot products of bf16-rounded activations with bf16 rows (formats/numerics.md, "bf16").
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

    /// The products of `count` row segments (n elements each) with every token's rounded activations
    /// (`x`, rows `xStride` apart), four tokens a pass, into out[t * outStride].
    static func products(segments: UnsafePointer<UnsafePointer<UInt16>?>, count: Int, n: Int, x: UnsafePointer<UInt16>, xStride: Int,
                         tokens: Int, out: UnsafeMutablePointer<Float>, outStride: Int) {
        var t = 0
        while t < tokens {
            let k = min(4, tokens - t)
            bffn_dot_bf16(segments, count, n, x + t * xStride, xStride, k, out + t * outStride, outStride)
            t += k
        }
    }

    /// x · row for float activations (rounded here) and a bf16 row, for tests: the same bits as the matrix products.
    public static func dot(_ x: [Float], row: UnsafePointer<UInt16>) -> Float {
        let n = x.count
        return x.withUnsafeBufferPointer { xp in
            let xb = round(xp.baseAddress!, tokens: 1, stride: n, width: n)
            defer { xb.deallocate() }
            var pointer: UnsafePointer<UInt16>? = row
            var out: Float = 0
            withUnsafePointer(to: &pointer) { products(segments: $0, count: 1, n: n, x: xb, xStride: n, tokens: 1, out: &out, outStride: 1) }
            return out
        }
    }
}

/// The int8 form of T activation rows for one weight layout (formats/numerics.md, "int8"): codes (in nibble order
/// per block for q4 rows), one scale per block, and what the row kind needs besides (q4 symmetric: 8 x each quad's
/// code sum; q4 asymmetric: one sum per weight group). Rows may be cut into segments (the experts of a down
/// projection's union) whose blocks, quads and groups restart at each segment.
final class QuantizedActivations {
    let tokens: Int, width: Int, block: Int
    /// The row kind (`BFFN_INTDOT_Q8`, `..._Q4_SYMMETRIC`, `..._Q4_ASYMMETRIC`) and weight group.
    let kind: Int32, group: Int
    /// Blocks, quads and groups per row of every token.
    let blocksPerRow: Int, quadsPerRow: Int, groupsPerRow: Int
    let codes: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    /// 8 x each quad's code sum: what q4 symmetric rows subtract; kept for every kind, so the kernels' pointers
    /// into it are always valid.
    let quadOffsets: UnsafeMutablePointer<Int32>
    let groupSums: UnsafeMutablePointer<Float>?

    /// Quantizes `tokens` rows of `width` floats (`stride` apart) for weight rows of `type` whose segments have
    /// `segment` elements (`width` for one segment).
    init(_ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int, segment: Int, type: StorageType) {
        let group = type.group(cols: segment)!
        let block = bffn_activation_block(segment, group)
        self.tokens = tokens
        self.width = width
        self.block = block
        self.group = group
        kind = IntegerDot.kind(type)
        let segments = width / segment
        blocksPerRow = (segment + block - 1) / block * segments
        quadsPerRow = segment / 4 * segments
        groupsPerRow = segment / group * segments
        codes = .allocate(capacity: max(tokens * width, 1))
        scales = .allocate(capacity: max(tokens * blocksPerRow, 1))
        quadOffsets = .allocate(capacity: max(tokens * quadsPerRow, 1))
        groupSums = kind == Int32(BFFN_INTDOT_Q4_ASYMMETRIC) ? .allocate(capacity: max(tokens * groupsPerRow, 1)) : nil
        let blocksPerSegment = blocksPerRow / segments, quadsPerSegment = segment / 4, groupsPerSegment = segment / group
        for t in 0..<tokens {
            for s in 0..<segments {
                bffn_quantize_activations(kind, x + t * stride + s * segment, segment, group, block, codes + t * width + s * segment,
                                          scales + t * blocksPerRow + s * blocksPerSegment,
                                          quadOffsets + t * quadsPerRow + s * quadsPerSegment,
                                          groupSums.map { $0 + t * groupsPerRow + s * groupsPerSegment })
            }
        }
    }

    /// The C view of these activations (valid while `self` lives).
    var view: bffn_int8_activations {
        bffn_int8_activations(codes: codes, scales: scales, quad_offsets: quadOffsets, group_sums: groupSums, code_stride: width,
                              scale_stride: blocksPerRow, quad_stride: quadsPerRow, sum_stride: groupsPerRow, tokens: tokens, block: block)
    }

    deinit {
        codes.deallocate()
        scales.deallocate()
        quadOffsets.deallocate()
        groupSums?.deallocate()
    }
}

/// Integer dot products of quantized activations with q8 / q4 rows (formats/numerics.md); every instruction
/// set gives the same bits.
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

    /// Rows `rows` of `w` against every token of `q`: out[r + t * outStride] for r in the range.
    static func rows(_ w: WeightMatrix, _ range: Range<Int>, _ q: QuantizedActivations, out: UnsafeMutablePointer<Float>, outStride: Int) {
        guard !range.isEmpty else { return }
        var view = q.view
        bffn_intdot_rows(q.kind, w.row(range.lowerBound).assumingMemoryBound(to: UInt8.self), w.rowStrideBytes, range.count, w.cols, q.group,
                         &view, out + range.lowerBound, outStride)
    }

    /// One output per token over `count` row segments of `n` elements (one row, or the union of a down projection)
    /// against every token of `q`: out[t * outStride].
    static func products(segments: UnsafePointer<UnsafePointer<UInt8>?>, count: Int, _ n: Int, _ q: QuantizedActivations,
                         out: UnsafeMutablePointer<Float>, outStride: Int) {
        var view = q.view
        bffn_intdot_segments(q.kind, segments, count, n, q.group, &view, out, outStride)
    }

    /// Outputs `rows` of a down projection over a union (expert r's row j at bases[r] + j * strides[r] bytes, `n`
    /// elements) against every token of `q`: out[j + t * outStride].
    static func union(bases: [UnsafePointer<UInt8>], strides: [Int], rows: Range<Int>, n: Int, _ q: QuantizedActivations,
                      out: UnsafeMutablePointer<Float>, outStride: Int) {
        guard !rows.isEmpty else { return }
        var view = q.view
        let scratch = UnsafeMutablePointer<UnsafePointer<UInt8>?>.allocate(capacity: max(bases.count, 1))
        defer { scratch.deallocate() }
        bases.withUnsafeBufferPointer { b in
            strides.withUnsafeBufferPointer { s in
                b.withMemoryRebound(to: UnsafePointer<UInt8>?.self) { bp in
                    bffn_intdot_union(q.kind, bp.baseAddress, s.baseAddress, bases.count, rows.lowerBound, rows.upperBound, n, q.group, &view,
                                      scratch, out, outStride)
                }
            }
        }
    }

    /// x · row for `n` float activations (quantized here), for tests and references: the same bits as the matrix
    /// products give.
    public static func dot(_ x: [Float], row: UnsafeRawPointer, type: StorageType) -> Float {
        let n = x.count
        return x.withUnsafeBufferPointer { xp in
            let q = QuantizedActivations(xp.baseAddress!, tokens: 1, stride: n, width: n, segment: n, type: type)
            var pointer: UnsafePointer<UInt8>? = row.assumingMemoryBound(to: UInt8.self)
            var out: Float = 0
            withUnsafePointer(to: &pointer) { products(segments: $0, count: 1, n, q, out: &out, outStride: 1) }
            return withExtendedLifetime(q) { out }
        }
    }
}
