/// The element types the kernels read weights from.
public enum WeightType: Sendable, Equatable {
    case f32, f16, bf16

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 2 }
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

    /// Start of row `r`.
    @inlinable public func row(_ r: Int) -> UnsafeRawPointer { base + r * rowStride * type.size }

    /// Rows `start ..< start + count`.
    public func rows(_ start: Int, _ count: Int) -> WeightMatrix {
        WeightMatrix(base: row(start), type: type, rows: count, cols: cols, rowStride: rowStride)
    }

    /// Columns `start ..< start + count` of every row.
    public func columns(_ start: Int, _ count: Int) -> WeightMatrix {
        WeightMatrix(base: base + start * type.size, type: type, rows: rows, cols: count, rowStride: rowStride)
    }

    /// Element (r, c) widened to Float.
    public func element(_ r: Int, _ c: Int) -> Float {
        let p = row(r) + c * type.size
        switch type {
        case .f32: return p.loadUnaligned(as: Float.self)
        case .f16: return Float(p.loadUnaligned(as: Float16.self))
        case .bf16: return Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16)
        }
    }

    /// Bytes this matrix's elements occupy (rows × cols × element size).
    public var byteCount: Int { rows * cols * type.size }
}
