import BFFNKernels

/// The q3k encoding of formats/bfpk.md ("Q3K rows") transcribed in plain Swift, element by element: an independent
/// reference for the C encoder (`bffn_encode_q3k_row`). `weights` nil: max|x| / 4 per sub-block of 16 on both grids and
/// unit weights; else the symmetric search of "Choosing scales" with codes −4 ... 3 on x and on −x, with those weights.
func referenceQ3K(_ x: [Float], weights: [Float]?) -> [UInt8] {
    let n = x.count, subs = n / 16, supers = (n + 255) / 256
    var head = [UInt8](), table = [UInt8](repeating: 0, count: (6 * subs + 7) / 8)
    var low = [UInt8](repeating: 0, count: n / 4), high = [UInt8](repeating: 0, count: n / 8)
    let w = weights ?? [Float](repeating: 1, count: n)
    func round(_ v: Float) -> Float { v.rounded(.toNearestOrAwayFromZero) }
    func clamp(_ q: Float, _ lo: Float, _ hi: Float) -> Float { q > hi ? hi : (q < lo ? lo : q) }
    func code(_ v: Float, _ s: Float) -> Float { s > 0 ? clamp(round(v / s), -4, 3) : 0 }
    /// The values of sub-block j, negated when mirrored.
    func values(_ j: Int, _ mirror: Bool) -> [Float] { x[(16 * j)..<(16 * j + 16)].map { mirror ? 0 - $0 : $0 } }
    func error(_ j: Int, _ s: Float, _ mirror: Bool) -> Double {
        var acc = 0.0
        for (i, y) in values(j, mirror).enumerated() {
            let e = Double((code(y, s) + 0) * s) - Double(y)
            acc += Double(w[16 * j + i]) * (e * e)
        }
        return acc
    }
    /// The symmetric search of "Choosing scales" (codes −4 ... 3, nmax 3) on the values y of sub-block j.
    func search(_ j: Int, _ mirror: Bool, from nearest: Float) -> Float {
        let y = values(j, mirror), amax = y.map(abs).max()!
        var s = nearest, best = error(j, nearest, mirror)
        for k in 0..<21 {
            let iscale = (Float(2) + Float(0.1) * Float(k)) / amax
            var num = 0.0, den = 0.0
            for (i, v) in y.enumerated() {
                let q = Double(clamp(round(v * iscale), -4, 3)), wq = Double(w[16 * j + i]) * q
                num += wq * Double(v)
                den += wq * q
            }
            guard den > 0 else { continue }
            let c = Float(num / den)
            guard c > 0, c.isFinite else { continue }
            let e = error(j, c, mirror)
            if e < best { (best, s) = (e, c) }
        }
        return s
    }
    for b in 0..<supers {
        let js = Array((16 * b)..<min(subs, 16 * b + 16))
        var scales: [Float] = [], mirrors: [Bool] = []
        for j in js {
            let amax = x[(16 * j)..<(16 * j + 16)].map(abs).max()!
            var plus = amax / 4, minus = amax / 4
            if weights != nil, amax > 0 { (plus, minus) = (search(j, false, from: plus), search(j, true, from: minus)) }
            let mirror = error(j, minus, true) < error(j, plus, false)
            mirrors.append(mirror)
            scales.append(mirror ? minus : plus)
        }
        let dh = Float16(min(scales.reduce(0) { $1 > $0 ? $1 : $0 } / 31, 65504))
        head += [UInt8(dh.bitPattern & 255), UInt8(dh.bitPattern >> 8)]
        let d = Float(dh)
        for (k, j) in js.enumerated() {
            let sc0 = d > 0 ? Int(clamp(round(scales[k] / d), 0, 31)) : 0
            var best = (sc0, error(j, d * Float(sc0), mirrors[k]))
            for sc in [sc0 - 1, sc0 + 1] where (0...31).contains(sc) {
                let e = error(j, d * Float(sc), mirrors[k])
                if e < best.1 { best = (sc, e) }
            }
            let field = best.0 | (mirrors[k] ? 32 : 0)
            for bit in 0..<6 where field >> bit & 1 == 1 { table[(6 * j + bit) / 8] |= UInt8(1 << ((6 * j + bit) % 8)) }
            let s = d * Float(best.0)
            for (i, y) in values(j, mirrors[k]).enumerated() {
                let e = 16 * j + i, u = UInt8(Int(code(y, s)) + 4)
                low[e / 4] |= (u & 3) << (2 * (e % 4))
                high[e / 8] |= (u >> 2) << (e % 8)
            }
        }
    }
    return head + table + low + high
}

/// A q3k row as the q4 symmetric row in groups of 16 that the kernels compute it as (formats/numerics.md): scales
/// d·sc_j, nibbles c + 8 (c = u − 4, or 4 − u in a mirrored sub-block); read straight from the bytes as the spec lays
/// them out.
func q3kAsQ4(_ row: [UInt8], cols n: Int) -> [UInt8] {
    let subs = n / 16, tableAt = (n + 255) / 256 * 2, lowAt = tableAt + (6 * subs + 7) / 8, highAt = lowAt + n / 4
    var scales: [UInt8] = [], nibbles: [UInt8] = []
    for j in 0..<subs {
        let d = Float(Float16(bitPattern: UInt16(row[2 * (j / 16)]) | UInt16(row[2 * (j / 16) + 1]) << 8))
        var field = 0
        for bit in 0..<6 where row[tableAt + (6 * j + bit) / 8] >> ((6 * j + bit) % 8) & 1 == 1 { field |= 1 << bit }
        withUnsafeBytes(of: (d * Float(field & 31)).bitPattern.littleEndian) { scales += $0 }
        for i in (16 * j)..<(16 * j + 16) {
            let u = Int(row[lowAt + i / 4] >> (2 * (i % 4)) & 3) | Int(row[highAt + i / 8] >> (i % 8) & 1) << 2
            nibbles.append(UInt8(field & 32 != 0 ? 12 - u : u + 4))
        }
    }
    return scales + stride(from: 0, to: n, by: 2).map { nibbles[$0] | nibbles[$0 + 1] << 4 }
}
