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

/// The int8 form of T activation rows for one weight layout: codes, one scale per block and one code sum per
/// quad (four elements). Rows may be cut into segments (the experts of a down projection's union) whose blocks
/// and quads restart at each segment.
final class QuantizedActivations {
    let tokens: Int, width: Int, block: Int
    /// Blocks and quads per segment, and per row.
    let blocksPerSegment: Int, blocksPerRow: Int, quadsPerSegment: Int, quadsPerRow: Int
    let codes: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let quads: UnsafeMutablePointer<Int32>

    /// Quantizes `tokens` rows of `width` floats (`stride` apart) in segments of `segment` elements (`width` for
    /// one segment), blocks of `block`.
    init(_ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int, segment: Int, block: Int) {
        self.tokens = tokens
        self.width = width
        self.block = block
        let segments = width / segment
        blocksPerSegment = (segment + block - 1) / block
        blocksPerRow = blocksPerSegment * segments
        quadsPerSegment = (segment + 3) / 4
        quadsPerRow = quadsPerSegment * segments
        codes = .allocate(capacity: max(tokens * width, 1))
        scales = .allocate(capacity: max(tokens * blocksPerRow, 1))
        quads = .allocate(capacity: max(tokens * quadsPerRow, 1))
        for t in 0..<tokens {
            for s in 0..<segments {
                bffn_quantize_activations(x + t * stride + s * segment, segment, block, codes + t * width + s * segment,
                                          scales + t * blocksPerRow + s * blocksPerSegment, quads + t * quadsPerRow + s * quadsPerSegment)
            }
        }
    }

    deinit {
        codes.deallocate()
        scales.deallocate()
        quads.deallocate()
    }
}

/// Integer dot products of quantized activations with one q8 / q4 row (formats/numerics.md); every instruction
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

    /// The activation block length for rows of `cols` elements of `type` (nil for float types).
    public static func block(_ type: StorageType, cols: Int) -> Int? {
        type.group(cols: cols).map { bffn_activation_block(cols, $0) }
    }

    /// The product of `count` row segments (each `n` elements of `type`; one row, or the union of a down
    /// projection) with token `t`'s quantized activations.
    @inline(__always)
    static func dot(segments: UnsafePointer<UnsafePointer<UInt8>?>, count: Int, _ type: StorageType, _ n: Int, _ q: QuantizedActivations, token t: Int) -> Float {
        let codes = q.codes + t * q.width, scales = q.scales + t * q.blocksPerRow, quads = q.quads + t * q.quadsPerRow
        switch type {
        case .q8(let g): return bffn_dot_q8_segments(segments, count, n, g ?? n, codes, scales, quads, q.block)
        case .q4(let g, let asymmetric): return bffn_dot_q4_segments(segments, count, n, g, asymmetric ? 1 : 0, codes, scales, quads, q.block)
        default: preconditionFailure("integer products are for q8 and q4 rows")
        }
    }

    /// The products of `count` row segments with tokens t ..< t + 4, written to out[0], out[outStride], ...: the
    /// same bits as four `dot(segments:...)` calls, each weight block read once.
    @inline(__always)
    static func dot4(segments: UnsafePointer<UnsafePointer<UInt8>?>, count: Int, _ type: StorageType, _ n: Int, _ q: QuantizedActivations,
                     token t: Int, out: UnsafeMutablePointer<Float>, outStride: Int) {
        let codes = q.codes + t * q.width, scales = q.scales + t * q.blocksPerRow, quads = q.quads + t * q.quadsPerRow
        switch type {
        case .q8(let g):
            bffn_dot_segments4(0, segments, count, n, g ?? n, 0, codes, q.width, scales, q.blocksPerRow, quads, q.quadsPerRow, q.block, out, outStride)
        case .q4(let g, let asymmetric):
            bffn_dot_segments4(1, segments, count, n, g, asymmetric ? 1 : 0, codes, q.width, scales, q.blocksPerRow, quads, q.quadsPerRow, q.block,
                               out, outStride)
        default: preconditionFailure("integer products are for q8 and q4 rows")
        }
    }

    /// The products of `count` row segments with every token's activations, four tokens a pass, into
    /// out[t * outStride].
    static func products(segments: UnsafePointer<UnsafePointer<UInt8>?>, count: Int, _ type: StorageType, _ n: Int, _ q: QuantizedActivations,
                         out: UnsafeMutablePointer<Float>, outStride: Int) {
        var t = 0
        while t + 4 <= q.tokens {
            dot4(segments: segments, count: count, type, n, q, token: t, out: out + t * outStride, outStride: outStride)
            t += 4
        }
        while t < q.tokens {
            out[t * outStride] = dot(segments: segments, count: count, type, n, q, token: t)
            t += 1
        }
    }

    /// The product of one row with token `t`'s quantized activations.
    @inline(__always)
    static func dot(_ row: UnsafeRawPointer, _ type: StorageType, _ n: Int, _ q: QuantizedActivations, token t: Int) -> Float {
        var pointer: UnsafePointer<UInt8>? = row.assumingMemoryBound(to: UInt8.self)
        return withUnsafePointer(to: &pointer) { dot(segments: $0, count: 1, type, n, q, token: t) }
    }

    /// x · row for `n` float activations (quantized here), for tests and references: the same bits as the matrix
    /// products give.
    public static func dot(_ x: [Float], row: UnsafeRawPointer, type: StorageType) -> Float {
        let n = x.count
        let block = IntegerDot.block(type, cols: n)!
        return x.withUnsafeBufferPointer { xp in
            let q = QuantizedActivations(xp.baseAddress!, tokens: 1, stride: n, width: n, segment: n, block: block)
            return dot(row, type, n, q, token: 0)
        }
    }
}
