/// The storage types the kernels read weights from.
///
/// Quantized rows (`q8`, `q4`) are self-contained: per row, the float32 scales of its groups (then, for
/// asymmetric q4, the float32 offsets), then the codes (q8: one signed byte per element; q4: two elements per
/// byte, the even element in the low nibble). The dequantized value is Float(q)·scale for q8 and symmetric q4
/// (q − 8 for the stored nibble) and fma(Float(q), scale, offset) for asymmetric q4, computed the same way by
/// every kernel. Groups are multiples of 32 elements and divide the row.
public enum WeightType: Sendable, Equatable {
    case f32, f16, bf16
    /// int8 codes, symmetric, one float32 scale per `group` elements.
    case q8(group: Int)
    /// int4 codes in groups of `group` elements, with scale and offset (`asymmetric`) or scale only.
    case q4(group: Int, asymmetric: Bool)

    /// Bytes per element of the float types (quantized types: use `rowBytes`).
    public var size: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8: return 1
        case .q4: return 1
        }
    }

    /// True for f32, f16, bf16.
    public var isFloat: Bool {
        switch self {
        case .f32, .f16, .bf16: return true
        default: return false
        }
    }

    /// Bytes one row of `cols` elements takes.
    public func rowBytes(cols: Int) -> Int {
        switch self {
        case .f32, .f16, .bf16: return cols * size
        case .q8(let g): return cols / g * 4 + cols
        case .q4(let g, let asym): return cols / g * 4 * (asym ? 2 : 1) + cols / 2
        }
    }
}

/// A read-only 2-D weight matrix `[rows, cols]` in memory the caller keeps alive (usually a file mapping).
///
/// Row r starts `r * rowStride` elements after `base`; elements within a row are contiguous. A column band
/// (`columns(_:_:)`) keeps the row stride, which is how one expert of a block_linear `down_proj` [H, E·de] is
/// read in place without a copy.
public struct WeightMatrix: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let type: WeightType
    public let rows: Int
    public let cols: Int
    /// Distance between row starts, in elements.
    public let rowStride: Int

    public init(base: UnsafeRawPointer, type: WeightType, rows: Int, cols: Int, rowStride: Int? = nil) {
        self.base = base
        self.type = type
        self.rows = rows
        self.cols = cols
        self.rowStride = rowStride ?? cols
    }

    /// Distance between row starts in bytes.
    @inlinable public var rowStrideBytes: Int { type.isFloat ? rowStride * type.size : type.rowBytes(cols: cols) }

    /// Start of row `r`.
    @inlinable public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowStrideBytes }

    /// Rows `start ..< start + count`.
    public func rows(_ start: Int, _ count: Int) -> WeightMatrix {
        WeightMatrix(base: row(start), type: type, rows: count, cols: cols, rowStride: rowStride)
    }

    /// Columns `start ..< start + count` of every row (float types only: quantized rows are not sliced).
    public func columns(_ start: Int, _ count: Int) -> WeightMatrix {
        precondition(type.isFloat, "column bands of quantized rows are not supported")
        return WeightMatrix(base: base + start * type.size, type: type, rows: rows, cols: count, rowStride: rowStride)
    }

    /// Element (r, c) as Float (dequantized for q8 / q4, exactly as the kernels do).
    public func element(_ r: Int, _ c: Int) -> Float {
        switch type {
        case .f32: return F32Loader().load1(row(r), c)
        case .f16: return F16Loader().load1(row(r), c)
        case .bf16: return BF16Loader().load1(row(r), c)
        case .q8(let g): return Q8Loader(group: g, cols: cols).load1(row(r), c)
        case .q4(let g, let a): return Q4Loader(group: g, cols: cols, asymmetric: a).load1(row(r), c)
        }
    }

    /// Row r as Float, read with one type switch per row (dequantized for q8 / q4 as the kernels do).
    public func rowValues(_ r: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: cols) { buffer, count in
            loadRow(r, into: buffer.baseAddress!)
            count = cols
        }
    }

    /// Writes row r as Float to `destination` (`cols` values), dequantized for q8 / q4 as the kernels do.
    public func loadRow(_ r: Int, into destination: UnsafeMutablePointer<Float>) {
        func fill<L: WeightLoader>(_ l: L) { l.widen(row(r), count: cols, into: destination) }
        switch type {
        case .f32: fill(F32Loader())
        case .f16: fill(F16Loader())
        case .bf16: fill(BF16Loader())
        case .q8(let g): fill(Q8Loader(group: g, cols: cols))
        case .q4(let g, let a): fill(Q4Loader(group: g, cols: cols, asymmetric: a))
        }
    }

    /// Bytes this matrix's rows occupy (rows × row bytes, not counting stride gaps).
    public var byteCount: Int { rows * type.rowBytes(cols: cols) }

    /// Bytes from the first row's start to the last row's end (stride gaps included), 0 with no rows.
    public var spanBytes: Int { rows == 0 ? 0 : (rows - 1) * rowStrideBytes + type.rowBytes(cols: cols) }
}
