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
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: tokens * rows * 4) { acc in
            acc.initialize(repeating: SIMD8<Float>())
            let a = acc.baseAddress!
            @inline(__always) func slot(_ t: Int, _ r: Int) -> UnsafeMutablePointer<SIMD8<Float>> { a + (t * rows + r) * 4 }
            var k0 = 0
            while k0 < blocks {
                let k1 = min(blocks, k0 + panel)
                var t = 0
                while t + 3 <= tokens {
                    let xt = x + t * xStride, yt = x + (t + 1) * xStride, zt = x + (t + 2) * xStride
                    for r in 0..<rows {
                        Dot.accumulate3(xt, yt, zt, w + r * wStride, from: k0, to: k1, slot(t, r), slot(t + 1, r), slot(t + 2, r))
                    }
                    t += 3
                }
                while t < tokens {
                    let xt = x + t * xStride
                    for r in 0..<rows { Dot.accumulate1(xt, w + r * wStride, from: k0, to: k1, slot(t, r)) }
                    t += 1
                }
                k0 = k1
            }
            for t in 0..<tokens {
                for r in 0..<rows {
                    out[t * outStride + r] = Dot.finish(x + t * xStride, w + r * wStride, n, slot(t, r))
                }
            }
        }
    }
}

extension Dot {
    /// Adds elements k0 ..< k1 (multiples of 32, within the row's blocks of 32) of x·w, y·w and z·w into
    /// their four accumulators each (`ax`, `ay`, `az`: four SIMD8 values apart), in `dot`'s assignment.
    @inline(__always)
    static func accumulate3(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                            from k0: Int, to k1: Int, _ ax: UnsafeMutablePointer<SIMD8<Float>>, _ ay: UnsafeMutablePointer<SIMD8<Float>>,
                            _ az: UnsafeMutablePointer<SIMD8<Float>>) {
        var xa = ax[0], xb = ax[1], xc = ax[2], xd = ax[3]
        var ya = ay[0], yb = ay[1], yc = ay[2], yd = ay[3]
        var za = az[0], zb = az[1], zc = az[2], zd = az[3]
        let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y), zr = UnsafeRawPointer(z), wr = UnsafeRawPointer(w)
        var k = k0
        while k < k1 {
            var v = wr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self)
            xa.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), v)
            ya.addProduct(yr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), v)
            za.addProduct(zr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), v)
            v = wr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self)
            xb.addProduct(xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), v)
            yb.addProduct(yr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), v)
            zb.addProduct(zr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), v)
            v = wr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self)
            xc.addProduct(xr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), v)
            yc.addProduct(yr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), v)
            zc.addProduct(zr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), v)
            v = wr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self)
            xd.addProduct(xr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), v)
            yd.addProduct(yr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), v)
            zd.addProduct(zr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), v)
            k += 32
        }
        ax[0] = xa; ax[1] = xb; ax[2] = xc; ax[3] = xd
        ay[0] = ya; ay[1] = yb; ay[2] = yc; ay[3] = yd
        az[0] = za; az[1] = zb; az[2] = zc; az[3] = zd
    }

    /// `accumulate3` for one token.
    @inline(__always)
    static func accumulate1(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, from k0: Int, to k1: Int,
                            _ ax: UnsafeMutablePointer<SIMD8<Float>>) {
        var a = ax[0], b = ax[1], c = ax[2], d = ax[3]
        let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w)
        var k = k0
        while k < k1 {
            a.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), wr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self))
            b.addProduct(xr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self), wr.loadUnaligned(fromByteOffset: (k + 8) * 4, as: SIMD8<Float>.self))
            c.addProduct(xr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self), wr.loadUnaligned(fromByteOffset: (k + 16) * 4, as: SIMD8<Float>.self))
            d.addProduct(xr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self), wr.loadUnaligned(fromByteOffset: (k + 24) * 4, as: SIMD8<Float>.self))
            k += 32
        }
        ax[0] = a; ax[1] = b; ax[2] = c; ax[3] = d
    }

    /// Completes x·w (n elements) from the four accumulators of its blocks of 32: the remaining whole
    /// 8-element blocks go to the first, the tail is summed in index order, then `dot`'s reduction.
    @inline(__always)
    static func finish(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ n: Int, _ ax: UnsafePointer<SIMD8<Float>>) -> Float {
        var a = ax[0]
        let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w)
        var k = n / 32 * 32
        while k + 8 <= n {
            a.addProduct(xr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self), wr.loadUnaligned(fromByteOffset: k * 4, as: SIMD8<Float>.self))
            k += 8
        }
        var tail: Float = 0
        while k < n {
            tail = tail.addingProduct(x[k], w[k])
            k += 1
        }
        return reduce((a + ax[1]) + (ax[2] + ax[3])) + tail
    }
}
