import BFFNCore
import CBlockFFNBF16Dot
import CBlockFFNIntDot

/// One 64-byte-aligned allocation that holds the tiles of many matrices (a whole model's, so that its read
/// bandwidth can be measured over the very memory the products stream).
public final class TileArena: @unchecked Sendable {
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
            MemoryAdvice.hugePages(bytes.baseAddress!, byteCount: rounded)
        } else {
            bytes = .allocate(byteCount: size, alignment: 64)
        }
    }

    deinit { bytes.deallocate() }
}

/// A matrix repacked into tiles of 16 rows for the products of formats/numerics.md, one vector lane a row: q8 / q4
/// rows for the int8 products (per tile and weight group, the 16 rows' scales (and offsets), then their codes four
/// elements at a time) and bf16 rows for the bf16 products (pairs of elements, 64 bytes a pair of 16 rows). Built
/// once (at engine set-up for mapped weights, per call for blocks an expert provider reads), in memory of its own
/// or in a `TileArena`, 64-byte aligned; a tile's rows past the matrix's last are zero.
public final class WeightTiles: @unchecked Sendable {
    /// The storage type of the rows (q8, q4 or bf16).
    public let type: StorageType
    /// Rows and columns of the matrix.
    public let rows: Int, cols: Int
    /// Bytes of one tile (a multiple of 64) and the number of tiles (rows / 16, rounded up).
    public let tileBytes: Int, tileCount: Int
    /// The C kind of q8 / q4 rows and their weight group (unused for bf16).
    let kind: Int32, group: Int
    let storage: UnsafeMutableRawPointer
    /// The arena the tiles live in (nil: `storage` is this object's own allocation).
    let arena: TileArena?

    /// Rows per tile.
    public static let rowsPerTile = Int(BFFN_TILE_ROWS)

    /// Whether `precision`'s products read rows of `type` from tiles (int8: q8 and q4; bf16: bf16; auto: as
    /// `ActivationPrecision.effective(for:)` chooses).
    public static func applies(_ precision: ActivationPrecision, to type: StorageType) -> Bool {
        switch precision.effective(for: type) {
        case .int8: return IntegerDot.applies(to: type)
        case .bf16: return type == .bf16
        case .float, .auto: return false
        }
    }

    /// Bytes the tiles of `w` (q8, q4 or bf16 rows) take.
    public static func byteCount(of w: WeightMatrix) -> Int {
        tileBytes(w) * ((w.rows + rowsPerTile - 1) / rowsPerTile)
    }

    static func tileBytes(_ w: WeightMatrix) -> Int {
        w.type == .bf16 ? bffn_bf16_tile_bytes(w.cols) : bffn_tile_bytes(IntegerDot.kind(w.type), w.cols, w.type.group(cols: w.cols)!)
    }

    /// Repacks `w` (q8, q4 or bf16 rows; a precondition) into memory of its own, or into `arena` at `offset` (a
    /// multiple of 64 with `byteCount(of: w)` bytes free there).
    public init(_ w: WeightMatrix, arena: TileArena? = nil, offset: Int = 0) {
        precondition(IntegerDot.applies(to: w.type) || w.type == .bf16, "tiles are for q8, q4 and bf16 rows")
        precondition(arena.map { offset % 64 == 0 && offset + Self.byteCount(of: w) <= $0.bytes.count } ?? true, "tiles outside the arena")
        self.arena = arena
        type = w.type
        rows = w.rows
        cols = w.cols
        tileBytes = Self.tileBytes(w)
        tileCount = (rows + Self.rowsPerTile - 1) / Self.rowsPerTile
        storage = arena.map { $0.bytes.baseAddress! + offset } ?? .allocate(byteCount: max(tileBytes * tileCount, 64), alignment: 64)
        let dst = storage.assumingMemoryBound(to: UInt8.self), src = w.base.assumingMemoryBound(to: UInt8.self)
        if w.type == .bf16 {
            kind = -1
            group = w.cols
            bffn_bf16_tiles_pack(src, w.rowStrideBytes, rows, cols, dst)
        } else {
            kind = IntegerDot.kind(w.type)
            group = w.type.group(cols: w.cols)!
            bffn_tiles_pack(kind, src, w.rowStrideBytes, rows, cols, group, dst)
        }
    }

    /// Bytes the tiles occupy.
    public var byteCount: Int { tileBytes * tileCount }

    /// The first byte of the tiles.
    var base: UnsafePointer<UInt8> { UnsafePointer(storage.assumingMemoryBound(to: UInt8.self)) }

    deinit { if arena == nil { storage.deallocate() } }
}

/// The tiled matrices of one product (one matrix, the experts of an up projection, or a down projection's union in
/// order) with the C list of their first bytes, made once per product rather than once per thread's part.
final class TiledMatrices {
    let mats: [WeightTiles]
    let bases: UnsafeMutablePointer<UnsafePointer<UInt8>?>

    /// The tiles of `matrices`: each one's own (`WeightMatrix.withTiles()`), else repacked now for this product.
    convenience init(_ matrices: [WeightMatrix]) { self.init(matrices.map { $0.tiles ?? WeightTiles($0) }) }

    init(_ mats: [WeightTiles]) {
        self.mats = mats
        bases = .allocate(capacity: max(mats.count, 1))
        for (i, m) in mats.enumerated() { bases[i] = m.base }
    }

    deinit { bases.deallocate() }
}
