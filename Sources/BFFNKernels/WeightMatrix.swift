/// A read-only 2-D weight matrix `[rows, cols]` in memory the caller keeps alive (usually a file mapping).
///
/// Row r starts `r * rowStride` elements after `base`; elements within a row are contiguous. A column band
/// (`columns(_:_:)`) keeps the row stride, which is how one expert of a block_linear `down_proj` [H, E·de] is
/// read in place without a copy.
public struct WeightMatrix: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let type: StorageType
    public let rows: Int
    public let cols: Int
    /// Distance between row starts, in elements.
    public let rowStride: Int
    /// The same rows repacked into tiles for the int8 or bf16 products (`withTiles()`); nil until then, and for slices.
    public private(set) var tiles: WeightTiles?

    public init(base: UnsafeRawPointer, type: StorageType, rows: Int, cols: Int, rowStride: Int? = nil) {
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

    /// This matrix with its rows repacked into tiles (`WeightTiles`: q8 / q4 rows for the int8 products, bf16 rows for
    /// the bf16 products; formats/numerics.md), a copy as large as the rows (in memory of its own, or in `arena` at
    /// `offset`); float32 / f16 matrices and ones already tiled are returned as they are.
    public func withTiles(arena: TileArena? = nil, offset: Int = 0) -> WeightMatrix {
        guard tiles == nil, IntegerDot.applies(to: type) || type == .bf16, rows > 0 else { return self }
        var copy = self
        copy.tiles = WeightTiles(self, arena: arena, offset: offset)
        return copy
    }

    /// Columns `start ..< start + count` of every row (float types only: quantized rows are not sliced).
    public func columns(_ start: Int, _ count: Int) -> WeightMatrix {
        precondition(type.isFloat, "column bands of quantized rows are not supported")
        return WeightMatrix(base: base + start * type.size, type: type, rows: rows, cols: count, rowStride: rowStride)
    }

    /// Element (r, c) as Float (dequantized for q8 / q4, exactly as the kernels do).
    public func element(_ r: Int, _ c: Int) -> Float {
        struct Element: WeightLoaderBody {
            let row: UnsafeRawPointer, column: Int
            func callAsFunction<L: WeightLoader>(_ l: L) -> Float { l.load1(row, column) }
        }
        return type.withLoader(cols: cols, Element(row: row(r), column: c))
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
        struct Widen: WeightLoaderBody {
            let row: UnsafeRawPointer, count: Int, destination: UnsafeMutablePointer<Float>
            func callAsFunction<L: WeightLoader>(_ l: L) { l.widen(row, count: count, into: destination) }
        }
        type.withLoader(cols: cols, Widen(row: row(r), count: cols, destination: destination))
    }

    /// Bytes this matrix's rows occupy (rows × row bytes, not counting stride gaps).
    public var byteCount: Int { rows * type.rowBytes(cols: cols) }

    /// Bytes from the first row's start to the last row's end (stride gaps included), 0 with no rows.
    public var spanBytes: Int { rows == 0 ? 0 : (rows - 1) * rowStrideBytes + type.rowBytes(cols: cols) }
}
