import CBlockFFNIntDot
#if canImport(Glibc)
import Glibc
#endif

/// One 64-byte-aligned allocation that holds the tiles of many matrices (a whole model's, so that its read
/// bandwidth can be measured over the very memory the products stream).
public final class IntegerTileArena: @unchecked Sendable {
    /// The arena's memory.
    public let bytes: UnsafeMutableRawBufferPointer

    /// Bytes of a huge page, the arena's alignment and the unit its size is rounded up to.
    static let hugePage = 2 << 20

    /// Allocates `byteCount` bytes (at least 64), in 2 MiB huge pages where the kernel grants them
    /// (`madvise(MADV_HUGEPAGE)`, asked before the first write): the products read a large model's experts
    /// scattered over the arena, and with 4 KiB pages each read of a small expert paid page walks and a restarted
    /// prefetch stream.
    public init(byteCount: Int) {
        let size = max(byteCount, 64)
        if size >= Self.hugePage {
            let rounded = (size + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            bytes = .allocate(byteCount: rounded, alignment: Self.hugePage)
            #if canImport(Glibc)
            _ = madvise(bytes.baseAddress!, rounded, MADV_HUGEPAGE)
            #endif
        } else {
            bytes = .allocate(byteCount: size, alignment: 64)
        }
    }

    deinit { bytes.deallocate() }
}

/// A q8 / q4 matrix repacked into tiles of 16 rows for the integer products (formats/numerics.md, "int8"): per
/// tile and weight group, the 16 rows' scales (and offsets), then their codes four elements at a time, so that one
/// lane of an integer vector holds one row. Built once (at engine set-up for mapped weights, per call for blocks
/// an expert provider reads), in memory of its own or in an `IntegerTileArena`, 64-byte aligned; a tile's rows
/// past the matrix's last are zero.
public final class IntegerTiles: @unchecked Sendable {
    /// The storage type of the rows (q8 or q4).
    public let type: StorageType
    /// Rows and columns of the matrix.
    public let rows: Int, cols: Int
    /// Bytes of one tile (a multiple of 64) and the number of tiles (rows / 16, rounded up).
    public let tileBytes: Int, tileCount: Int
    /// The C kind of the rows and their weight group.
    let kind: Int32, group: Int
    let storage: UnsafeMutableRawPointer
    /// The arena the tiles live in (nil: `storage` is this object's own allocation).
    let arena: IntegerTileArena?

    /// Rows per tile.
    public static let rowsPerTile = Int(BFFN_TILE_ROWS)

    /// Bytes the tiles of `w` (q8 or q4 rows) take.
    public static func byteCount(of w: WeightMatrix) -> Int {
        let group = w.type.group(cols: w.cols)!
        return bffn_tile_bytes(IntegerDot.kind(w.type), w.cols, group) * ((w.rows + rowsPerTile - 1) / rowsPerTile)
    }

    /// Repacks `w` (q8 or q4 rows; a precondition) into memory of its own, or into `arena` at `offset` (a multiple
    /// of 64 with `byteCount(of: w)` bytes free there).
    public init(_ w: WeightMatrix, arena: IntegerTileArena? = nil, offset: Int = 0) {
        precondition(IntegerDot.applies(to: w.type), "integer tiles are for q8 and q4 rows")
        precondition(arena.map { offset % 64 == 0 && offset + Self.byteCount(of: w) <= $0.bytes.count } ?? true, "tiles outside the arena")
        self.arena = arena
        type = w.type
        rows = w.rows
        cols = w.cols
        kind = IntegerDot.kind(w.type)
        group = w.type.group(cols: w.cols)!
        tileBytes = bffn_tile_bytes(kind, cols, group)
        tileCount = (rows + Self.rowsPerTile - 1) / Self.rowsPerTile
        storage = arena.map { $0.bytes.baseAddress! + offset } ?? .allocate(byteCount: max(tileBytes * tileCount, 64), alignment: 64)
        bffn_tiles_pack(kind, w.base.assumingMemoryBound(to: UInt8.self), w.rowStrideBytes, rows, cols, group,
                        storage.assumingMemoryBound(to: UInt8.self))
    }

    /// Bytes the tiles occupy.
    public var byteCount: Int { tileBytes * tileCount }

    /// The first byte of the tiles.
    var base: UnsafePointer<UInt8> { UnsafePointer(storage.assumingMemoryBound(to: UInt8.self)) }

    deinit { if arena == nil { storage.deallocate() } }
}
