import CBlockFFNPrefetch

/// out[t, r] = x[t, :] · W[r, :] for T tokens, split over threads by rows.
///
/// Each output is computed by `Dot.dot` / `Dot.dot4` in their fixed order, so results are bit-identical for
/// any T, any thread count and any row grouping. Rows are processed in blocks; within a block every token
/// is processed before moving on, so a block of weights is read from memory once per call.
public enum MatMul {
    struct Job: @unchecked Sendable {
        let x: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let w: WeightMatrix
        let tokens: Int
        let xStride: Int
        let outStride: Int
    }

    /// Runs the product. `x` holds T rows of `w.cols` floats (`xStride` apart); `out` receives T rows of
    /// `w.rows` floats (`outStride` apart).
    public static func run(x: UnsafePointer<Float>, tokens: Int, xStride: Int, w: WeightMatrix,
                           out: UnsafeMutablePointer<Float>, outStride: Int, threads: Int) {
        let job = Job(x: x, out: out, w: w, tokens: tokens, xStride: xStride, outStride: outStride)
        let rowsPerBlock = 16
        let blocks = (w.rows + rowsPerBlock - 1) / rowsPerBlock
        let work = w.rows * w.cols * max(tokens, 1)
        let parts = work < 1 << 16 ? 1 : max(1, min(threads, blocks))
        if parts == 1 {
            block(job, 0, w.rows)
            return
        }
        WorkerPool.shared.run(parts: parts) { p in
            let b0 = blocks * p / parts, b1 = blocks * (p + 1) / parts
            var b = b0
            while b < b1 {
                block(job, b * rowsPerBlock, min(w.rows, (b + 1) * rowsPerBlock))
                b += 1
            }
        }
    }

    static func block(_ j: Job, _ r0: Int, _ r1: Int) {
        switch j.w.type {
        case .f32: block(j, r0, r1, F32Loader.self)
        case .bf16: block(j, r0, r1, BF16Loader.self)
        case .f16: block(j, r0, r1, F16Loader.self)
        }
    }

    static func block<L: WeightLoader>(_ j: Job, _ r0: Int, _ r1: Int, _ loader: L.Type) {
        let n = j.w.cols
        var t = 0
        // Token pairs share each widened weight block; per output the order is that of Dot.dot.
        while t + 2 <= j.tokens {
            let xt = j.x + t * j.xStride, yt = j.x + (t + 1) * j.xStride
            let ot = j.out + t * j.outStride, pt = j.out + (t + 1) * j.outStride
            var r = r0
            while r + 4 <= r1 {
                let (u, v) = Dot.dot4x2(xt, yt, j.w.row(r), j.w.row(r + 1), j.w.row(r + 2), j.w.row(r + 3), n, L.self)
                ot[r] = u[0]; ot[r + 1] = u[1]; ot[r + 2] = u[2]; ot[r + 3] = u[3]
                pt[r] = v[0]; pt[r + 1] = v[1]; pt[r + 2] = v[2]; pt[r + 3] = v[3]
                r += 4
            }
            while r < r1 {
                ot[r] = Dot.dot(xt, j.w.row(r), n, L.self)
                pt[r] = Dot.dot(yt, j.w.row(r), n, L.self)
                r += 1
            }
            t += 2
        }
        if t < j.tokens {
            let xt = j.x + t * j.xStride
            let ot = j.out + t * j.outStride
            var r = r0
            let rowBytes = n * j.w.type.size
            while r + 4 <= r1 {
                // Decode streams each row once: ask for the quad two ahead (page crossings stop the hardware streamer).
                if j.tokens == 1 && r + 12 <= r1 + 16 && r + 12 <= j.w.rows {
                    for q in 8..<12 { bffn_prefetch_range(j.w.row(r + q), rowBytes) }
                }
                let v = Dot.dot4(xt, j.w.row(r), j.w.row(r + 1), j.w.row(r + 2), j.w.row(r + 3), n, L.self)
                ot[r] = v[0]; ot[r + 1] = v[1]; ot[r + 2] = v[2]; ot[r + 3] = v[3]
                r += 4
            }
            while r < r1 {
                ot[r] = Dot.dot(xt, j.w.row(r), n, L.self)
                r += 1
            }
        }
    }
}

/// Products over a list of row blocks (the experts of a chunk's union), without copying weights.
public enum ExpertMatMul {
    struct Job: @unchecked Sendable {
        let x: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let blocks: [WeightMatrix]
        let tokens: Int
    }

    /// Up projections: for every block b (an expert's [de, H] rows) and token t,
    /// out[t, b·de + i] = x[t] · block_b[i]. Rows of all blocks are split over threads together.
    public static func up(x: UnsafePointer<Float>, tokens: Int, blocks: [WeightMatrix], out: UnsafeMutablePointer<Float>, threads: Int) {
        guard let first = blocks.first else { return }
        let de = first.rows, H = first.cols, width = blocks.count * de
        let job = Job(x: x, out: out, blocks: blocks, tokens: tokens)
        let units = blocks.count  // one expert per work unit keeps each expert's slab on one core
        let parts = max(1, min(threads, units))
        let run: (Int) -> Void = { p in
            let u0 = units * p / parts, u1 = units * (p + 1) / parts
            for b in u0..<u1 {
                MatMul.run(x: job.x, tokens: job.tokens, xStride: H, w: job.blocks[b], out: job.out + b * de, outStride: width, threads: 1)
            }
        }
        WorkerPool.shared.run(parts: parts, run)
    }

    /// Down projections summed over blocks in list order: out[t, j] = Σ_b (g[t, b·de ..< (b+1)·de] · down_b[j]),
    /// each block's partial dot added in ascending block order, so a block whose gates are all zero adds
    /// exact zeros and the sum equals the one over any superset of blocks (dense = sparse).
    public static func down(g: UnsafePointer<Float>, tokens: Int, blocks: [WeightMatrix], out: UnsafeMutablePointer<Float>, threads: Int) {
        guard let first = blocks.first else { return }
        let H = first.rows, de = first.cols, width = blocks.count * de
        let job = Job(x: g, out: out, blocks: blocks, tokens: tokens)
        let parts = H * width * tokens < 1 << 15 ? 1 : max(1, min(threads, H / 64))
        let run: (Int) -> Void = { p in
            let j0 = H * p / parts, j1 = H * (p + 1) / parts
            switch first.type {
            case .f32: rows(job, j0, j1, de, width, F32Loader.self)
            case .bf16: rows(job, j0, j1, de, width, BF16Loader.self)
            case .f16: rows(job, j0, j1, de, width, F16Loader.self)
            }
        }
        WorkerPool.shared.run(parts: parts, run)
    }

    static func rows<L: WeightLoader>(_ j: Job, _ j0: Int, _ j1: Int, _ de: Int, _ width: Int, _: L.Type) {
        let H = j.blocks[0].rows
        var row = j0
        // Four output rows at a time (four weight streams per expert); per output the order is the same.
        while row + 4 <= j1 {
            for t in 0..<j.tokens {
                var acc = SIMD4<Float>()
                for (b, w) in j.blocks.enumerated() {
                    acc += Dot.dot4(j.x + t * width + b * de, w.row(row), w.row(row + 1), w.row(row + 2), w.row(row + 3), de, L.self)
                }
                for q in 0..<4 { j.out[t * H + row + q] = acc[q] }
            }
            row += 4
        }
        rowsOneByOne(j, row, j1, de, width, L.self)
    }

    static func rowsOneByOne<L: WeightLoader>(_ j: Job, _ j0: Int, _ j1: Int, _ de: Int, _ width: Int, _: L.Type) {
        for row in j0..<j1 {
            for t in 0..<j.tokens {
                var acc: Float = 0
                for (b, w) in j.blocks.enumerated() {
                    acc += Dot.dot(j.x + t * width + b * de, w.row(row), de, L.self)
                }
                j.out[t * j.blocks[0].rows + row] = acc
            }
        }
    }
}
