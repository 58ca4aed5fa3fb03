import BFFNCore

/// out[t, r] = x[t, :] · W[r, :] for T tokens, split over threads by rows.
///
/// Each output is computed in `Dot.dot`'s fixed order (one token: `Dot.dot` straight from storage, one row per
/// pass; several tokens: `TileProduct` over a widened block), so results are bit-identical for any T, any thread count and any row
/// grouping. Rows are processed in blocks; within a block every token is processed before moving on, so a
/// block of weights is read from memory once per call.
public enum MatMul {
    struct Job {
        let x: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let w: WeightMatrix
        let tokens: Int
        let xStride: Int
        let outStride: Int
    }

    /// Parts per thread of a one-token product on `threads` threads: 4 up to 4 threads, else 2. Parts are claimed
    /// one after another, so a thread that starts late or reads a slower part of memory does not leave the others
    /// waiting; past 4 threads fewer parts, as every claim is an atomic on one cache line (the measurements: README,
    /// "Measured speed"). BFFN_ONE_PARTS overrides, for tuning.
    static func onePartsPerThread(_ threads: Int) -> Int { onePartsOverride ?? (threads <= 4 ? 4 : 2) }
    static let onePartsOverride: Int? = {
        if let v = getenv("BFFN_ONE_PARTS"), let n = Int(String(cString: v)), n > 0 { return n }
        return nil
    }()
    /// Rows per work block (BFFN_ROWS overrides, for tuning).
    static let rowsPerBlock: Int = {
        if let v = getenv("BFFN_ROWS"), let n = Int(String(cString: v)) { return n }
        return 16
    }()

    /// How a product of `rows` x `cols` over `tokens` is split: blocks of `rowsPerBlock` rows, and parts of
    /// whole blocks. Four parts per thread for a single token (two past 4 threads; each streams its rows); several tokens: up to 8
    /// parts per thread, taken dynamically by the pool, so a slower thread does not hold the call up. Small
    /// products and threads == 1 stay one part (callers inside a pool job run with one thread).
    static func split(rows: Int, cols: Int, tokens: Int, threads: Int) -> (blocks: Int, parts: Int) {
        let blocks = (rows + rowsPerBlock - 1) / rowsPerBlock
        let work = rows * cols * max(tokens, 1)
        return (blocks, work < 1 << 16 || threads <= 1 ? 1 : max(1, min(tokens > 1 ? threads * 8 : threads * onePartsPerThread(threads), blocks)))
    }

    /// Runs the product. `x` holds T rows of `w.cols` floats (`xStride` apart); `out` receives T rows of
    /// `w.rows` floats (`outStride` apart).
    /// With `activations` `.int8` and q8 / q4 weights (or `.bf16` and bf16 weights), the activations are quantized
    /// (rounded) once per call and every output is a product on the weights' tiles (`IntegerDot`, `BF16Dot`,
    /// formats/numerics.md), the same bits for any T and thread split.
    public static func run(x: UnsafePointer<Float>, tokens: Int, xStride: Int, w: WeightMatrix,
                           out: UnsafeMutablePointer<Float>, outStride: Int, threads: Int, activations: ActivationPrecision = .float) {
        if let a = TileActivations(activations, x, tokens: tokens, stride: xStride, width: w.cols, segment: w.cols, type: w.type,
                                   threads: threads) {
            tiled(a, w: w, out: out, outStride: outStride, threads: threads)
            return
        }
        // Several tokens: 64-byte-aligned input rows, so no 32-byte load of the inner loops splits across cache
        // lines (values and order unchanged).
        let input = AlignedRows(x, rows: tokens, stride: xStride, cols: w.cols)
        defer { input.release() }
        let xs = input.pointer, stride = input.stride
        let job = Job(x: xs, out: out, w: w, tokens: tokens, xStride: stride, outStride: outStride)
        let rowsPerBlock = MatMul.rowsPerBlock
        let (blocks, parts) = split(rows: w.rows, cols: w.cols, tokens: tokens, threads: threads)
        if parts == 1 {
            // Block by block even on one thread: prefill widens one block at a time into scratch.
            var b = 0
            while b < blocks {
                block(job, b * rowsPerBlock, min(w.rows, (b + 1) * rowsPerBlock))
                b += 1
            }
            return
        }
        WorkerPool.shared.run(parts: parts, threads: threads) { p in
            let b0 = blocks * p / parts, b1 = blocks * (p + 1) / parts
            var b = b0
            while b < b1 {
                block(job, b * rowsPerBlock, min(w.rows, (b + 1) * rowsPerBlock))
                b += 1
            }
        }
    }

    /// Several products of the same input: out_i[t, r] = x[t, :] · W_i[r, :] for each (W_i, out_i, outStride_i), the
    /// same bits as separate `run` calls. When the matrices take products on tiles (int8 activations and q8 / q4
    /// matrices, or bf16 and bf16) of one type and width (a layer's q, k and v, MLA's two down-projections, a dense
    /// FFN's gate and up), the input is prepared once and all matrices' tiles are split over the threads in one pool
    /// run.
    public static func run(x: UnsafePointer<Float>, tokens: Int, xStride: Int,
                           products: [(w: WeightMatrix, out: UnsafeMutablePointer<Float>, outStride: Int)], threads: Int,
                           activations: ActivationPrecision = .float) {
        guard let first = products.first?.w else { return }
        guard products.count > 1, products.allSatisfy({ $0.w.type == first.type && $0.w.cols == first.cols }),
              let a = TileActivations(activations, x, tokens: tokens, stride: xStride, width: first.cols, segment: first.cols,
                                      type: first.type, threads: threads) else {
            for p in products {
                run(x: x, tokens: tokens, xStride: xStride, w: p.w, out: p.out, outStride: p.outStride, threads: threads, activations: activations)
            }
            return
        }
        let list = TiledMatrices(products.map(\.w))
        let targets = products.map { ($0.out, $0.outStride) }
        splitTiles(list.mats, tokens: tokens, threads: threads) { i, range in
            a.product(list, matrices: i..<(i + 1), tiles: range, out: targets[i].0, outStride: targets[i].1)
        }
        withExtendedLifetime((a, list)) {}
    }

    /// Products of different inputs in one pool run: out_i[t, r] = x_i[t, :] · W_i[r, :] for each entry, the same bits
    /// as separate `run` calls. When every matrix takes products on tiles (int8 activations and q8 / q4 matrices, or
    /// bf16 and bf16), each input is prepared once and all matrices' tiles are split over the threads together: one
    /// hand-off to the workers instead of one a product (MLA's two up-projections, of the query and of the key-value
    /// latent); otherwise separate `run` calls.
    public static func run(inputs: [(x: UnsafePointer<Float>, xStride: Int, w: WeightMatrix, out: UnsafeMutablePointer<Float>, outStride: Int)],
                           tokens: Int, threads: Int, activations: ActivationPrecision = .float) {
        let prepared = inputs.map {
            TileActivations(activations, $0.x, tokens: tokens, stride: $0.xStride, width: $0.w.cols, segment: $0.w.cols, type: $0.w.type,
                            threads: threads)
        }
        guard inputs.count > 1, prepared.allSatisfy({ $0 != nil }) else {
            for p in inputs {
                run(x: p.x, tokens: tokens, xStride: p.xStride, w: p.w, out: p.out, outStride: p.outStride, threads: threads, activations: activations)
            }
            return
        }
        let acts = prepared.map { $0! }
        let lists = inputs.map { TiledMatrices([$0.w]) }
        let targets = inputs.map { ($0.out, $0.outStride) }
        splitTiles(lists.map { $0.mats[0] }, tokens: tokens, threads: threads) { i, range in
            acts[i].product(lists[i], matrices: 0..<1, tiles: range, out: targets[i].0, outStride: targets[i].1)
        }
        withExtendedLifetime((acts, lists)) {}
    }

    /// Splits the tiles of `mats`, laid end to end, over the threads in one pool run (parts sized as one product of
    /// their rows and mean width over `tokens`), `body(i, tiles)` computing matrix i's share of a part.
    static func splitTiles(_ mats: [WeightTiles], tokens: Int, threads: Int, _ body: @escaping (Int, Range<Int>) -> Void) {
        let counts = mats.map(\.tileCount), total = counts.reduce(0, +)
        let rows = mats.reduce(0) { $0 + $1.rows }, work = mats.reduce(0) { $0 + $1.rows * $1.cols }
        let parts = min(total, split(rows: rows, cols: work / max(rows, 1), tokens: tokens, threads: threads).parts)
        let run: (Int) -> Void = { p in
            forEachTileRange(counts: counts, (total * p / parts)..<(total * (p + 1) / parts), body)
        }
        if parts <= 1 { run(0) } else { WorkerPool.shared.run(parts: parts, threads: threads, run) }
    }

    /// Runs `body(i, tiles)` for every matrix i's share of `range`, a range of the tiles of matrices laid end to end
    /// (`counts[i]` tiles each), the share counted within matrix i.
    static func forEachTileRange(counts: [Int], _ range: Range<Int>, _ body: (Int, Range<Int>) -> Void) {
        var start = 0
        for (i, count) in counts.enumerated() {
            let lo = max(range.lowerBound, start), hi = min(range.upperBound, start + count)
            if lo < hi { body(i, (lo - start)..<(hi - start)) }
            start += count
        }
    }

    /// One product on `w`'s tiles against activations prepared already, the tiles split over threads, every token of
    /// a tile processed while it is in cache.
    static func tiled(_ a: TileActivations, w: WeightMatrix, out: UnsafeMutablePointer<Float>, outStride: Int, threads: Int) {
        let list = TiledMatrices([w])
        splitTiles(w.rows, cols: w.cols, tokens: a.tokens, threads: threads) { range in
            a.product(list, matrices: 0..<1, tiles: range, out: out, outStride: outStride)
        }
        withExtendedLifetime((a, list)) {}
    }

    /// Runs `body` over the tiles of a product of `rows` x `cols` (tiles of `WeightTiles.rowsPerTile` rows),
    /// split over threads in as many parts as the float path's split gives.
    static func splitTiles(_ rows: Int, cols: Int, tokens: Int, threads: Int, _ body: @escaping (Range<Int>) -> Void) {
        let tiles = (rows + WeightTiles.rowsPerTile - 1) / WeightTiles.rowsPerTile
        let parts = min(tiles, split(rows: rows, cols: cols, tokens: tokens, threads: threads).parts)
        let run: (Int) -> Void = { p in body((tiles * p / parts)..<(tiles * (p + 1) / parts)) }
        if parts <= 1 { run(0) } else { WorkerPool.shared.run(parts: parts, threads: threads, run) }
    }

    static func block(_ j: Job, _ r0: Int, _ r1: Int) {
        struct Block: WeightLoaderBody {
            let j: Job, r0: Int, r1: Int
            func callAsFunction<L: WeightLoader>(_ l: L) { MatMul.block(j, r0, r1, l) }
        }
        j.w.type.withLoader(cols: j.w.cols, Block(j: j, r0: r0, r1: r1))
    }

    static func block<L: WeightLoader>(_ j: Job, _ r0: Int, _ r1: Int, _ loader: L) {
        let n = j.w.cols
        if j.tokens == 1 {
            // Decode: each row is streamed once, straight from the mapping.
            for r in r0..<r1 { j.out[r] = Dot.dot(j.x, j.w.row(r), n, loader) }
            return
        }
        // Prefill: widen the row block once into a float32 scratch tile (exact), then reuse each row for
        // every token, three (then two) tokens per pass; per output the order is still that of Dot.dot.
        let stride = (n + 15) / 16 * 16
        let scratchBytes = UnsafeMutableRawPointer.allocate(byteCount: (r1 - r0) * stride * 4, alignment: 64)
        defer { scratchBytes.deallocate() }
        let scratch = scratchBytes.bindMemory(to: Float.self, capacity: (r1 - r0) * stride)
        for r in r0..<r1 { j.w.loadRow(r, into: scratch + (r - r0) * stride) }
        TileProduct.run(x: j.x, xStride: j.xStride, tokens: j.tokens, w: scratch, wStride: stride, rows: r1 - r0, n: n,
                        out: j.out + r0, outStride: j.outStride)
    }
}

/// Rows of floats for the multi-token kernels: the caller's rows when they are 64-byte aligned (or there is
/// one row), else a 64-byte-aligned copy whose stride is rounded up to 16 floats.
struct AlignedRows {
    let pointer: UnsafePointer<Float>
    let stride: Int
    private let copy: UnsafeMutableRawPointer?

    init(_ x: UnsafePointer<Float>, rows: Int, stride: Int, cols: Int) {
        guard rows > 1 && (Int(bitPattern: x) % 64 != 0 || (stride * 4) % 64 != 0) else {
            pointer = x
            self.stride = stride
            copy = nil
            return
        }
        let padded = (cols + 15) / 16 * 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: rows * padded * 4, alignment: 64)
        let f = buffer.bindMemory(to: Float.self, capacity: rows * padded)
        for t in 0..<rows { (f + t * padded).update(from: x + t * stride, count: cols) }
        pointer = UnsafePointer(f)
        self.stride = padded
        copy = buffer
    }

    /// Frees the copy, if one was made.
    func release() { copy?.deallocate() }
}
