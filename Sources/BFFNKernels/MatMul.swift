import Dispatch

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
        DispatchQueue.concurrentPerform(iterations: parts) { p in
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
        for t in 0..<j.tokens {
            let xt = j.x + t * j.xStride
            let ot = j.out + t * j.outStride
            var r = r0
            while r + 4 <= r1 {
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
