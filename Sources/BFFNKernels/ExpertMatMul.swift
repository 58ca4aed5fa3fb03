import BFFNCore
import CBlockFFNPrefetch

/// Products over a list of row blocks (the experts of a chunk's union), without copying weights.
public enum ExpertMatMul {
    /// Rows ahead to prefetch in the one-token down projection (BFFN_PREFETCH overrides, for tuning).
    static let prefetchDistance: Int = {
        if let v = getenv("BFFN_PREFETCH"), let n = Int(String(cString: v)) { return n }
        return 16
    }()

    /// Rows per tile of the expert-by-expert walk (their accumulators, 128 bytes a row, stay in L1).
    static let walkTileRows = 128
    /// Rows ahead of the expert-by-expert walk to prefetch in each expert's stream (README, "Measured speed").
    static let walkPrefetchRows = 8
    /// Experts walked side by side (1 ... 4; README, "Measured speed").
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
