/// The multi-token product of a few float32 weight rows (a tile already widened from storage) with T token
/// rows: out[t · outStride + r] = x[t] · w[r] over n elements, every output in exactly `Dot.dot`'s order, so
/// results are the same bits as the one-token path whatever the tile, the token count or the thread split.
///
/// Short rows (n ≤ `panelThreshold`) run three tokens per pass over the whole row: three token rows and one
/// weight row stay in L1. Longer rows (the down projection over a union of experts is 2 000 - 7 000 elements)
/// would not, so they run in panels of `panel` elements: each output's four accumulators are kept in memory
/// between panels and continue in ascending element order, which is the same operation sequence.
enum TileProduct {
    /// Elements per panel of a long row: three tokens' slices are 12 KiB. Measured (bf16, 64 tokens, one
    /// thread, GFLOP/s for rows of 7 168 / 3 072): 256 -> 39 / 38, 512 -> 44 / 43, 1 024 -> 48 / 47, 1 536 -> 45 / 43.
    static let panel = 1024
    /// Rows up to this length run whole (rows of 1 792: 58 GFLOP/s whole, 46 in panels; 3 072: 28 whole, 47 in
    /// panels; 7 168: 33 whole, 48 in panels).
    static let panelThreshold = 2048

    /// Computes the product. `x` holds `tokens` rows `xStride` floats apart, `w` holds `rows` rows `wStride`
    /// floats apart (both 64-byte aligned for speed, not for correctness); `out` receives `tokens` rows of
    /// `rows` values, `outStride` floats apart.
    static func run(x: UnsafePointer<Float>, xStride: Int, tokens: Int, w: UnsafePointer<Float>, wStride: Int, rows: Int, n: Int,
                    out: UnsafeMutablePointer<Float>, outStride: Int) {
        if n > panelThreshold {
            panels(x: x, xStride: xStride, tokens: tokens, w: w, wStride: wStride, rows: rows, n: n, out: out, outStride: outStride)
            return
        }
        var t = 0
        while t + 3 <= tokens {
            let xt = x + t * xStride, yt = x + (t + 1) * xStride, zt = x + (t + 2) * xStride
            let ot = out + t * outStride, pt = out + (t + 1) * outStride, qt = out + (t + 2) * outStride
            for r in 0..<rows {
                let (u, v, s) = Dot.dot3(xt, yt, zt, w + r * wStride, n)
                ot[r] = u
                pt[r] = v
                qt[r] = s
            }
            t += 3
        }
        while t + 2 <= tokens {
            let xt = x + t * xStride, yt = x + (t + 1) * xStride
            let ot = out + t * outStride, pt = out + (t + 1) * outStride
            for r in 0..<rows {
                let (u, v) = Dot.dot2(xt, yt, UnsafeRawPointer(w + r * wStride), n, F32Loader())
                ot[r] = u
                pt[r] = v
            }
            t += 2
        }
        if t < tokens {
            let xt = x + t * xStride, ot = out + t * outStride
            for r in 0..<rows { ot[r] = Dot.dot(xt, UnsafeRawPointer(w + r * wStride), n, F32Loader()) }
        }
    }

    /// Long rows: panel by panel, three tokens per pass, accumulators in memory between panels.
    static func panels(x: UnsafePointer<Float>, xStride: Int, tokens: Int, w: UnsafePointer<Float>, wStride: Int, rows: Int, n: Int,
                       out: UnsafeMutablePointer<Float>, outStride: Int) {
        let blocks = n / 32 * 32
        withUnsafeTemporaryAllocation(of: DotAccumulators.self, capacity: tokens * rows) { acc in
            acc.initialize(repeating: DotAccumulators())
            let a = acc.baseAddress!
            @inline(__always) func slot(_ t: Int, _ r: Int) -> UnsafeMutablePointer<DotAccumulators> { a + t * rows + r }
            var k0 = 0
            while k0 < blocks {
                let k1 = min(blocks, k0 + panel)
                var t = 0
                while t + 3 <= tokens {
                    let xt = x + t * xStride, yt = x + (t + 1) * xStride, zt = x + (t + 2) * xStride
                    for r in 0..<rows {
                        DotAccumulators.add3(&slot(t, r).pointee, &slot(t + 1, r).pointee, &slot(t + 2, r).pointee,
                                             xt, yt, zt, w + r * wStride, from: k0, to: k1)
                    }
                    t += 3
                }
                while t < tokens {
                    let xt = x + t * xStride
                    for r in 0..<rows { slot(t, r).pointee.add(UnsafeRawPointer(xt), UnsafeRawPointer(w + r * wStride), from: k0, to: k1, F32Loader()) }
                    t += 1
                }
                k0 = k1
            }
            for t in 0..<tokens {
                for r in 0..<rows {
                    out[t * outStride + r] = slot(t, r).pointee.result(x + t * xStride, UnsafeRawPointer(w + r * wStride), n, F32Loader())
                }
            }
        }
    }
}
