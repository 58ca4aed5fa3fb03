import CBlockFFNBF16Dot

/// The activations of the products that read their weights from tiles (`WeightTiles`), prepared once per call:
/// int8 codes for q8 / q4 rows, bf16-rounded values for bf16 rows (formats/numerics.md).
enum TileActivations {
    case int8(QuantizedActivations)
    case bf16(BF16Activations)

    /// `tokens` rows of `width` floats (`stride` apart) prepared for rows of `type` whose segments have `segment`
    /// elements (`width` for one segment), several tokens' int8 codes over up to `threads` threads; nil when
    /// `precision` does not read rows of `type` from tiles (they take the float path).
    init?(_ precision: ActivationPrecision, _ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int, segment: Int,
          type: StorageType, threads: Int) {
        guard WeightTiles.applies(precision, to: type) else { return nil }
        if precision.effective(for: type) == .int8 {
            self = .int8(QuantizedActivations(x, tokens: tokens, stride: stride, width: width, segment: segment, type: type, threads: threads))
        } else {
            self = .bf16(BF16Activations(x, tokens: tokens, stride: stride, width: width))
        }
    }

    /// Tokens prepared.
    var tokens: Int {
        switch self {
        case .int8(let q): return q.tokens
        case .bf16(let b): return b.tokens
        }
    }

    /// Tiles `range` of the matrices `matrices` of `list` (each of the same shape, matrix m against segment m of
    /// these activations), summed over the matrices in order: out[r + t * outStride] for the tiles' rows.
    func product(_ list: TiledMatrices, matrices: Range<Int>, tiles range: Range<Int>, out: UnsafeMutablePointer<Float>, outStride: Int) {
        switch self {
        case .int8(let q): IntegerDot.product(list, matrices: matrices, tiles: range, q, out: out, outStride: outStride)
        case .bf16(let b):
            BF16Dot.product(list, matrices: matrices, tiles: range, x: b.values, xStride: b.width, tokens: b.tokens, out: out, outStride: outStride)
        }
    }

    /// x · (the concatenation of `rows`, stored rows of `type` of `x.count / rows.count` elements each) for one token
    /// of float activations prepared here: what the matrix products give for one output (of a down projection over a
    /// union when there are several rows). For tests and references.
    static func dot(_ precision: ActivationPrecision, _ x: [Float], rows: [UnsafeRawPointer], type: StorageType) -> Float {
        let n = x.count / max(rows.count, 1)
        let list = TiledMatrices(rows.map { WeightTiles(WeightMatrix(base: $0, type: type, rows: 1, cols: n)) })
        return x.withUnsafeBufferPointer { xp in
            let a = TileActivations(precision, xp.baseAddress!, tokens: 1, stride: x.count, width: x.count, segment: n, type: type, threads: 1)!
            var out: Float = 0
            a.product(list, matrices: 0..<rows.count, tiles: 0..<1, out: &out, outStride: 1)
            return withExtendedLifetime((a, list)) { out }
        }
    }
}

/// `tokens` rows of activations rounded to bf16 once (formats/numerics.md, "bf16"), `width` apart.
final class BF16Activations {
    let tokens: Int, width: Int
    let values: UnsafeMutablePointer<UInt16>

    /// Rounds `tokens` rows of `width` floats (`stride` apart).
    init(_ x: UnsafePointer<Float>, tokens: Int, stride: Int, width: Int) {
        self.tokens = tokens
        self.width = width
        values = .allocate(capacity: max(tokens * width, 1))
        for t in 0..<tokens { bffn_round_bf16(x + t * stride, width, values + t * width) }
    }

    deinit { values.deallocate() }
}
