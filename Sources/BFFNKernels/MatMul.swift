import BFFNCore
import CBlockFFNPrefetch
/// out[t, r] = x[t, :] · W[r, :] for T tokens, split over threads by rows.
///
/// Each output is computed in `Dot.dot`'s fixed order (one token: `Dot.dot` straight from storage, one row per
/// pass, which streams faster from 4 KiB-page file mappings than four interleaved rows; several tokens:
/// `TileProduct` over a widened block), so results are bit-identical for any T, any thread count and any row
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

    /// Parts per thread of a one-token product on `threads` threads: claimed one after another, so a thread that
    /// starts late or reads a slower part of memory does not leave the others waiting (on the 2-vCPU machine the
    /// caller's wait for the last part fell from 10-12 % to 4-6 % of decode samples with 4). Past 4 threads 2: every
    /// claim is an atomic on one cache line, and on the 16-core Xeon q4 / q8 decode on 16 threads ran at 321-339 /
    /// 296-303 tok/s with 2 parts a thread against 263-271 / 244-250 with 4 (two rounds). BFFN_ONE_PARTS overrides,
    /// for tuning.
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
        let counts = list.mats.map(\.tileCount), total = counts.reduce(0, +)
        let targets = products.map { ($0.out, $0.outStride) }
        let rows = products.reduce(0) { $0 + $1.w.rows }
        let parts = min(total, split(rows: rows, cols: first.cols, tokens: tokens, threads: threads).parts)
        let run: (Int) -> Void = { p in
            forEachTileRange(counts: counts, (total * p / parts)..<(total * (p + 1) / parts)) { i, range in
                a.product(list, matrices: i..<(i + 1), tiles: range, out: targets[i].0, outStride: targets[i].1)
            }
        }
        if parts <= 1 { run(0) } else { WorkerPool.shared.run(parts: parts, threads: threads, run) }
        withExtendedLifetime((a, list)) {}
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

/// Products over a list of row blocks (the experts of a chunk's union), without copying weights.
public enum ExpertMatMul {
    /// Rows ahead to prefetch in the one-token down projection (BFFN_PREFETCH overrides, for tuning).
    static let prefetchDistance: Int = {
        if let v = getenv("BFFN_PREFETCH"), let n = Int(String(cString: v)) { return n }
        return 16
    }()

    /// Rows per tile of the expert-by-expert walk (their accumulators, 128 bytes a row, stay in L1).
    static let walkTileRows = 128
    /// Rows ahead of the expert-by-expert walk to prefetch in each expert's stream (4, 8, 16 measured alike on
    /// synth Small and XLarge; 32 and more slower).
    static let walkPrefetchRows = 8
    /// Experts walked side by side (1 ... 4; 2 to 4 measured alike, 1 slower on XLarge's block_linear layout).
    static let walkExperts = 2

    struct Job {
        let x: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let blocks: [WeightMatrix]
        let tokens: Int
    }

    /// Up projections: for every block b (an expert's [de, H] rows) and token t,
    /// out[t, b·de + i] = x[t] · block_b[i]. Rows of all blocks are split over threads together.
    public static func up(x: UnsafePointer<Float>, tokens: Int, blocks: [WeightMatrix], out: UnsafeMutablePointer<Float>, threads: Int,
                          activations: ActivationPrecision = .float) {
        guard let first = blocks.first else { return }
        let de = first.rows, H = first.cols, width = blocks.count * de
        if let a = TileActivations(activations, x, tokens: tokens, stride: H, width: H, segment: H, type: first.type, threads: threads) {
            // The tokens prepared once, then every expert's tiles (split over threads together) against them.
            let list = TiledMatrices(blocks)
            let counts = list.mats.map(\.tileCount), total = counts.reduce(0, +)
            let parts = width * H * tokens < 1 << 15 ? 1 : max(1, min(threads, total))
            let run: (Int) -> Void = { p in
                MatMul.forEachTileRange(counts: counts, (total * p / parts)..<(total * (p + 1) / parts)) { b, range in
                    a.product(list, matrices: b..<(b + 1), tiles: range, out: out + b * de, outStride: width)
                }
            }
            if parts == 1 { run(0) } else { WorkerPool.shared.run(parts: parts, threads: threads, run) }
            withExtendedLifetime((a, list)) {}
            return
        }
        // Align the inputs once here rather than in every per-block `MatMul.run` below.
        let input = AlignedRows(x, rows: tokens, stride: H, cols: H)
        defer { input.release() }
        let job = Job(x: input.pointer, out: out, blocks: blocks, tokens: tokens)
        // Split the union's rows evenly (not whole experts), so two threads get equal work for any union size.
        let totalRows = width
        let parts = totalRows * H * tokens < 1 << 15 ? 1 : max(1, min(threads, totalRows / 8))
        WorkerPool.shared.run(parts: parts, threads: threads) { p in
            let lo = totalRows * p / parts, hi = totalRows * (p + 1) / parts
            var b = lo / de
            while b * de < hi {
                let r0 = max(lo, b * de) - b * de, r1 = min(hi, (b + 1) * de) - b * de
                MatMul.run(x: job.x, tokens: job.tokens, xStride: input.stride, w: job.blocks[b].rows(r0, r1 - r0),
                           out: job.out + b * de + r0, outStride: width, threads: 1, activations: activations)
                b += 1
            }
        }
    }

    /// Down projections summed over blocks in list order: out[t, j] = Σ_b (g[t, b·de ..< (b+1)·de] · down_b[j]),
    /// each block's partial dot added in ascending block order, so a block whose gates are all zero adds
    /// exact zeros and the sum equals the one over any superset of blocks (dense = sparse).
    /// With `activations` `.int8` and q8 / q4 blocks (or `.bf16` and bf16): each token's gates are quantized per
    /// expert segment (rounded) and every output is one product on tiles continued across the union's segments in
    /// list order (a segment of zero gates adds +0 terms, so dense = sparse holds here too).
    public static func down(g: UnsafePointer<Float>, tokens: Int, blocks: [WeightMatrix], out: UnsafeMutablePointer<Float>, threads: Int,
                            activations: ActivationPrecision = .float) {
        guard let first = blocks.first else { return }
        let H = first.rows, de = first.cols, width = blocks.count * de
        if let a = TileActivations(activations, g, tokens: tokens, stride: width, width: width, segment: de, type: first.type,
                                   threads: threads) {
            tiledDown(a, blocks: blocks, out: out, threads: threads)
            return
        }
        if de % 32 == 0 {
            concatenated(g: g, tokens: tokens, blocks: blocks, out: out, threads: threads)
            return
        }
        if tokens > 1 {
            // Several tokens: one GEMM per block into a partial, added in block order. Per output this is
            // ((0 + p_0) + p_1) + ..., the same sequence as the one-token path.
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: tokens * H)
            defer { partial.deallocate() }
            out.update(repeating: 0, count: tokens * H)
            for (b, w) in blocks.enumerated() {
                MatMul.run(x: g + b * de, tokens: tokens, xStride: width, w: w, out: partial, outStride: H, threads: threads)
                for i in 0..<(tokens * H) { out[i] += partial[i] }
            }
            return
        }
        let job = Job(x: g, out: out, blocks: blocks, tokens: tokens)
        let parts = H * width * tokens < 1 << 15 ? 1 : max(1, min(threads, H / 64))
        let run: (Int) -> Void = { p in
            let j0 = H * p / parts, j1 = H * (p + 1) / parts
            first.type.withLoader(cols: de, DownRows(job: job, j0: j0, j1: j1, de: de, width: width, concatenated: false))
        }
        WorkerPool.shared.run(parts: parts, threads: threads, run)
    }

    /// Runs `body` over ranges of a down projection's outputs: one per thread (at least 16 outputs each), or one
    /// range for a small product.
    static func forEachOutputRange(_ blocks: [WeightMatrix], tokens: Int, threads: Int, _ body: @escaping (Range<Int>) -> Void) {
        let H = blocks[0].rows, width = blocks.count * blocks[0].cols
        let parts = H * width * tokens < 1 << 15 ? 1 : max(1, min(threads, H / 16))
        let run: (Int) -> Void = { p in body((H * p / parts)..<(H * (p + 1) / parts)) }
        if parts == 1 { run(0) } else { WorkerPool.shared.run(parts: parts, threads: threads, run) }
    }

    /// The down projection on tiles (see `down`): every expert's tiles in union order, output tiles split over
    /// threads.
    static func tiledDown(_ a: TileActivations, blocks: [WeightMatrix], out: UnsafeMutablePointer<Float>, threads: Int) {
        let H = blocks[0].rows, width = blocks.count * blocks[0].cols
        let list = TiledMatrices(blocks)
        let count = (H + WeightTiles.rowsPerTile - 1) / WeightTiles.rowsPerTile
        let parts = H * width * a.tokens < 1 << 15 ? 1 : max(1, min(threads, count))
        let run: (Int) -> Void = { p in
            a.product(list, matrices: 0..<blocks.count, tiles: (count * p / parts)..<(count * (p + 1) / parts), out: out, outStride: H)
        }
        if parts == 1 { run(0) } else { WorkerPool.shared.run(parts: parts, threads: threads, run) }
        withExtendedLifetime((a, list)) {}
    }

    /// Down projection as one dot product per output over the concatenated union (expert widths that are
    /// multiples of 32; see `Dot.segmentedDot` for why any union gives the same bits as all experts).
    static func concatenated(g: UnsafePointer<Float>, tokens: Int, blocks: [WeightMatrix], out: UnsafeMutablePointer<Float>, threads: Int) {
        let de = blocks[0].cols, width = blocks.count * de
        // Several tokens: 64-byte-aligned gate rows (width is a multiple of 32 floats), as in `MatMul.run`.
        let gates = AlignedRows(g, rows: tokens, stride: width, cols: width)
        defer { gates.release() }
        assert(gates.stride == width, "rows of a multiple of 32 floats keep their stride")
        let gs = gates.pointer
        let job = Job(x: gs, out: out, blocks: blocks, tokens: tokens)
        forEachOutputRange(blocks, tokens: tokens, threads: threads) { range in
            blocks[0].type.withLoader(cols: de, DownRows(job: job, j0: range.lowerBound, j1: range.upperBound, de: de, width: width,
                                                         concatenated: true))
        }
    }

    /// Outputs j0 ..< j1 of a down projection, block by block or over the concatenated union, as a loader body.
    struct DownRows: WeightLoaderBody {
        let job: Job, j0: Int, j1: Int, de: Int, width: Int, concatenated: Bool
        func callAsFunction<L: WeightLoader>(_ l: L) {
            if concatenated { ExpertMatMul.concatenatedRows(job, j0, j1, de, width, l) } else { ExpertMatMul.rows(job, j0, j1, de, width, l) }
        }
    }

    static func concatenatedRows<L: WeightLoader>(_ j: Job, _ j0: Int, _ j1: Int, _ de: Int, _ width: Int, _ loader: L) {
        let H = j.blocks[0].rows
        if j.tokens == 1 {
            let segments = UnsafeMutableBufferPointer<UnsafeRawPointer>.allocate(capacity: j.blocks.count)
            defer { segments.deallocate() }
            let segmentBytes = de * j.blocks[0].type.size
            // When the segments are adjacent (all experts of a row), the row is one stream the hardware
            // already follows; prefetch only for a scattered union.
            let adjacent = zip(j.blocks, j.blocks.dropFirst()).allSatisfy { $0.0.base + segmentBytes == $0.1.base }
            let ahead = adjacent ? 0 : ExpertMatMul.prefetchDistance
            let stride = j.blocks[0].rowStrideBytes
            if !adjacent && j.blocks.allSatisfy({ $0.rowStrideBytes == stride }) {
                // A scattered union of one matrix's column bands (or of contiguous per-expert blocks): walk it
                // expert by expert, in tiles of rows, so each read is a constant-stride stream.
                var t0 = j0
                while t0 < j1 {
                    let t1 = min(j1, t0 + ExpertMatMul.walkTileRows)
                    downByExpert(j, t0, t1, de, stride, loader)
                    t0 = t1
                }
                return
            }
            for row in j0..<j1 {
                // The union's segments of a row are scattered across it; ask for those a few rows ahead.
                if ahead > 0 && row + ahead < j1 {
                    for w in j.blocks { bffn_prefetch_range(w.row(row + ahead), segmentBytes) }
                }
                for (b, w) in j.blocks.enumerated() { segments[b] = w.row(row) }
                j.out[row] = Dot.segmentedDot(j.x, UnsafeBufferPointer(segments), de, loader)
            }
            return
        }
        // Several tokens: widen a tile of rows' union segments into contiguous float32 scratch (exact, at most
        // 128 KiB, so it stays in L2 beside the tokens' panels), then `TileProduct` in the one-token order.
        let rowsPerTile = max(4, min(16, 32768 / width))
        let scratchBytes = UnsafeMutableRawPointer.allocate(byteCount: rowsPerTile * width * 4, alignment: 64)
        defer { scratchBytes.deallocate() }
        let scratch = scratchBytes.bindMemory(to: Float.self, capacity: rowsPerTile * width)
        var r0 = j0
        while r0 < j1 {
            let r1 = min(j1, r0 + rowsPerTile)
            // Widened with this call's loader: a union has 20-60 segments of 64-256 elements a row, too short to
            // pay `loadRow`'s type switch each.
            for row in r0..<r1 {
                let dst = scratch + (row - r0) * width
                for (b, w) in j.blocks.enumerated() { loader.widen(w.row(row), count: de, into: dst + b * de) }
            }
            TileProduct.run(x: j.x, xStride: width, tokens: j.tokens, w: scratch, wStride: width, rows: r1 - r0, n: width,
                            out: j.out + r0, outStride: H)
            r0 = r1
        }
    }

    /// One-token down projection over rows j0 ..< j1, taken expert by expert (`walkExperts` at a time): each block's rows
    /// at a constant stride are one stream, added into per-row accumulators. Every accumulator receives exactly
    /// the FMA sequence `Dot.segmentedDot` gives it (blocks in order, 32 elements a step, four chains), so the
    /// outputs are bit-identical to the row-by-row path, to the dense product and to any other union.
    static func downByExpert<L: WeightLoader>(_ j: Job, _ j0: Int, _ j1: Int, _ de: Int, _ stride: Int, _ loader: L) {
        let n = j1 - j0
        let segmentBytes = de * j.blocks[0].type.size
        let ahead = ExpertMatMul.walkPrefetchRows
        withUnsafeTemporaryAllocation(of: DotAccumulators.self, capacity: n) { acc in
            acc.initialize(repeating: DotAccumulators())
            var xr = UnsafeRawPointer(j.x)
            var bi = 0
            while bi < j.blocks.count {
                let count = min(ExpertMatMul.walkExperts, j.blocks.count - bi)
                let b0 = j.blocks[bi].row(j0)
                let b1 = count > 1 ? j.blocks[bi + 1].row(j0) : b0
                let b2 = count > 2 ? j.blocks[bi + 2].row(j0) : b0
                let b3 = count > 3 ? j.blocks[bi + 3].row(j0) : b0
                for i in 0..<n {
                    if i + ahead < n {
                        let p = (i + ahead) * stride
                        bffn_prefetch_range(b0 + p, segmentBytes)
                        if count > 1 { bffn_prefetch_range(b1 + p, segmentBytes) }
                        if count > 2 { bffn_prefetch_range(b2 + p, segmentBytes) }
                        if count > 3 { bffn_prefetch_range(b3 + p, segmentBytes) }
                    }
                    var row = acc[i]
                    let o = i * stride
                    row.add(xr, b0 + o, from: 0, to: de, loader)
                    if count > 1 { row.add(xr + de * 4, b1 + o, from: 0, to: de, loader) }
                    if count > 2 { row.add(xr + 2 * de * 4, b2 + o, from: 0, to: de, loader) }
                    if count > 3 { row.add(xr + 3 * de * 4, b3 + o, from: 0, to: de, loader) }
                    acc[i] = row
                }
                xr += count * de * 4
                bi += count
            }
            for i in 0..<n { j.out[j0 + i] = acc[i].sum }
        }
    }

    static func rows<L: WeightLoader>(_ j: Job, _ j0: Int, _ j1: Int, _ de: Int, _ width: Int, _ loader: L) {
        for row in j0..<j1 {
            for t in 0..<j.tokens {
                var acc: Float = 0
                for (b, w) in j.blocks.enumerated() {
                    acc += Dot.dot(j.x + t * width + b * de, w.row(row), de, loader)
                }
                j.out[t * j.blocks[0].rows + row] = acc
            }
        }
    }
}
