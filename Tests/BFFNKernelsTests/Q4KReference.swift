import BFFNKernels

/// The q4k encoding of formats/bfpk.md ("Q4K rows") transcribed in plain Swift, element by element: an independent
/// reference for the C encoder (`bffn_encode_q4k_row`). `weights` nil: round to nearest per sub-block with unit
/// weights for the 6-bit choice; else the asymmetric search per sub-block (`referenceWeightedScales`) with those
/// weights (x² or the column importance) for both steps.
func referenceQ4K(_ x: [Float], weights: [Float]?) -> [UInt8] {
    let n = x.count, subs = n / 32, supers = (n + 255) / 256
    var head = [UInt8](), table = [UInt8](repeating: 0, count: (3 * subs + 1) / 2), codes = [UInt8](repeating: 0, count: n / 2)
    let w = weights ?? [Float](repeating: 1, count: n)
    func round(_ v: Float) -> Float { v.rounded(.toNearestOrAwayFromZero) }
    func clamp(_ q: Float, _ lo: Float, _ hi: Float) -> Float { q > hi ? hi : (q < lo ? lo : q) }
    func code(_ v: Float, _ s: Float, _ o: Float) -> Float { s > 0 ? clamp(round((v - o) / s), 0, 15) : 0 }
    func half(_ v: Float) -> Float16 { Float16(min(v, 65504)) }
    func error(_ j: Int, _ s: Float, _ o: Float) -> Double {
        var acc = 0.0
        for i in (32 * j)..<(32 * j + 32) {
            let e = Double(o.addingProduct(code(x[i], s, o), s)) - Double(x[i])
            acc += Double(w[i]) * (e * e)
        }
        return acc
    }
    for b in 0..<supers {
        let js = Array((8 * b)..<min(subs, 8 * b + 8))
        var scales: [Float] = [], mins: [Float] = []
        for j in js {
            let xs = Array(x[(32 * j)..<(32 * j + 32)])
            let lo = xs.min()!, hi = xs.max()!
            var s: Float = hi > lo ? (hi - lo) / 15 : 0, o = lo
            if let weights, hi > lo {
                (s, o) = referenceWeightedScales(xs, Array(weights[(32 * j)..<(32 * j + 32)]), as: .q4(group: 32, asymmetric: true))[0]
            }
            if o > 0 { (s, o) = (hi > 0 ? hi / 15 : 0, 0) }
            scales.append(s)
            mins.append(0 - o)
        }
        let dh = half(scales.reduce(0) { $1 > $0 ? $1 : $0 } / 63), mh = half(mins.reduce(0) { $1 > $0 ? $1 : $0 } / 63)
        for v in [dh.bitPattern, mh.bitPattern] { head += [UInt8(v & 255), UInt8(v >> 8)] }
        let d = Float(dh), dmin = Float(mh)
        for (k, j) in js.enumerated() {
            let sc0 = d > 0 ? Int(clamp(round(scales[k] / d), 0, 63)) : 0, m0 = dmin > 0 ? Int(clamp(round(mins[k] / dmin), 0, 63)) : 0
            var best = (sc0, m0, error(j, d * Float(sc0), 0 - dmin * Float(m0)))
            for a in [0, -1, 1] {
                for c in [0, -1, 1] where !(a == 0 && c == 0) {
                    let sc = sc0 + a, m = m0 + c
                    guard (0...63).contains(sc), (0...63).contains(m) else { continue }
                    let e = error(j, d * Float(sc), 0 - dmin * Float(m))
                    if e < best.2 { best = (sc, m, e) }
                }
            }
            let field = best.0 | best.1 << 6
            for bit in 0..<12 where field >> bit & 1 == 1 { table[(12 * j + bit) / 8] |= UInt8(1 << ((12 * j + bit) % 8)) }
            let s = d * Float(best.0), o = 0 - dmin * Float(best.1)
            for i in (32 * j)..<(32 * j + 32) { codes[i / 2] |= UInt8(code(x[i], s, o)) << (4 * (i % 2)) }
        }
    }
    return head + table + codes
}

/// A q4k row as the q4 asymmetric row in groups of 32 that the kernels compute it as (formats/numerics.md): scales
/// d·sc_j, offsets 0 − dmin·m_j, the same code bytes; read straight from the bytes as the spec lays them out.
func q4kAsQ4(_ row: [UInt8], cols n: Int) -> [UInt8] {
    let subs = n / 32, tableAt = (n + 255) / 256 * 4
    var scales: [UInt8] = [], offsets: [UInt8] = []
    for j in 0..<subs {
        func half(_ at: Int) -> Float { Float(Float16(bitPattern: UInt16(row[at]) | UInt16(row[at + 1]) << 8)) }
        let d = half(4 * (j / 8)), dmin = half(4 * (j / 8) + 2)
        var field = 0
        for bit in 0..<12 where row[tableAt + (12 * j + bit) / 8] >> ((12 * j + bit) % 8) & 1 == 1 { field |= 1 << bit }
        let s = d * Float(field & 63), o = 0 - dmin * Float(field >> 6)
        withUnsafeBytes(of: s.bitPattern.littleEndian) { scales += $0 }
        withUnsafeBytes(of: o.bitPattern.littleEndian) { offsets += $0 }
    }
    return scales + offsets + Array(row[(tableAt + (3 * subs + 1) / 2)...])
}
