import BFFNKernels

/// The q6k encoding of formats/bfpk.md ("Q6K rows") transcribed in plain Swift, element by element: an independent
/// reference for the C encoder (`bffn_encode_q6k_row`). `weights` nil: max|x| / 31 per sub-block and unit weights for
/// the 8-bit choice; else the symmetric search of "Choosing scales" with codes −32 ... 31 and those weights.
func referenceQ6K(_ x: [Float], weights: [Float]?) -> [UInt8] {
    let n = x.count, subs = n / 32, supers = (n + 255) / 256
    var head = [UInt8](), table = [UInt8](repeating: 0, count: subs)
    var low = [UInt8](repeating: 0, count: n / 2), high = [UInt8](repeating: 0, count: n / 4)
    let w = weights ?? [Float](repeating: 1, count: n)
    func round(_ v: Float) -> Float { v.rounded(.toNearestOrAwayFromZero) }
    func clamp(_ q: Float, _ lo: Float, _ hi: Float) -> Float { q > hi ? hi : (q < lo ? lo : q) }
    func code(_ v: Float, _ s: Float) -> Float { s > 0 ? clamp(round(v / s), -32, 31) : 0 }
    func error(_ j: Int, _ s: Float) -> Double {
        var acc = 0.0
        for i in (32 * j)..<(32 * j + 32) {
            let e = Double((code(x[i], s) + 0) * s) - Double(x[i])
            acc += Double(w[i]) * (e * e)
        }
        return acc
    }
    for b in 0..<supers {
        let js = Array((8 * b)..<min(subs, 8 * b + 8))
        var scales: [Float] = []
        for j in js {
            let amax = x[(32 * j)..<(32 * j + 32)].map(abs).max()!
            var s = amax / 31
            if weights != nil, amax > 0 {
                var best = error(j, s)
                for k in 0..<21 {
                    let iscale = (Float(30) + Float(0.1) * Float(k)) / amax
                    var num = 0.0, den = 0.0
                    for i in (32 * j)..<(32 * j + 32) {
                        let q = Double(clamp(round(x[i] * iscale), -32, 31)), wq = Double(w[i]) * q
                        num += wq * Double(x[i])
                        den += wq * q
                    }
                    guard den > 0 else { continue }
                    let c = Float(num / den)
                    guard c > 0, c.isFinite else { continue }
                    let e = error(j, c)
                    if e < best { (best, s) = (e, c) }
                }
            }
            scales.append(s)
        }
        let dh = Float16(min(scales.reduce(0) { $1 > $0 ? $1 : $0 } / 255, 65504))
        head += [UInt8(dh.bitPattern & 255), UInt8(dh.bitPattern >> 8)]
        let d = Float(dh)
        for (k, j) in js.enumerated() {
            let sc0 = d > 0 ? Int(clamp(round(scales[k] / d), 0, 255)) : 0
            var best = (sc0, error(j, d * Float(sc0)))
            for sc in [sc0 - 1, sc0 + 1] where (0...255).contains(sc) {
                let e = error(j, d * Float(sc))
                if e < best.1 { best = (sc, e) }
            }
            table[j] = UInt8(best.0)
            let s = d * Float(best.0)
            for i in (32 * j)..<(32 * j + 32) {
                let u = UInt8(Int(code(x[i], s)) + 32)
                low[i / 2] |= (u & 15) << (4 * (i % 2))
                high[i / 4] |= (u >> 4) << (2 * (i % 4))
            }
        }
    }
    return head + table + low + high
}

/// A q6k row as the q8 row in groups of 32 that the kernels compute it as (formats/numerics.md): scales d·sc_j, codes
/// u − 32; read straight from the bytes as the spec lays them out.
func q6kAsQ8(_ row: [UInt8], cols n: Int) -> [UInt8] {
    let subs = n / 32, tableAt = (n + 255) / 256 * 2, lowAt = tableAt + subs, highAt = lowAt + n / 2
    var scales: [UInt8] = [], codes: [UInt8] = []
    for j in 0..<subs {
        let d = Float(Float16(bitPattern: UInt16(row[2 * (j / 8)]) | UInt16(row[2 * (j / 8) + 1]) << 8))
        withUnsafeBytes(of: (d * Float(row[tableAt + j])).bitPattern.littleEndian) { scales += $0 }
    }
    for i in 0..<n {
        let u = Int(row[lowAt + i / 2] >> (4 * (i % 2)) & 15) | Int(row[highAt + i / 4] >> (2 * (i % 4)) & 3) << 4
        codes.append(UInt8(bitPattern: Int8(u - 32)))
    }
    return scales + codes
}
