import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The importance-weighted scale search of formats/bfpk.md ("Choosing scales") transcribed in plain Swift: an
/// independent reference for the C search (`bffn_search_symmetric`, `bffn_search_asymmetric`). Returns each
/// group's (scale, offset) (offset 0 for symmetric types).
func referenceWeightedScales(_ x: [Float], _ w: [Float], as type: StorageType) -> [(scale: Float, offset: Float)] {
    let g = type.group(cols: x.count)!
    func clamp(_ q: Float, _ lo: Float, _ hi: Float) -> Float { q > hi ? hi : (q < lo ? lo : q) }
    func round(_ v: Float) -> Float { v.rounded(.toNearestOrAwayFromZero) }
    return stride(from: 0, to: x.count, by: g).map { start in
        let xs = Array(x[start..<(start + g)]), ws = Array(w[start..<(start + g)])
        switch type {
        case .q4(_, true):
            let lo = xs.min()!, hi = xs.max()!
            var scale: Float = hi > lo ? (hi - lo) / 15 : 1, offset = lo
            guard hi > lo else { return (scale, offset) }
            func error(_ s: Float, _ m: Float) -> Double {
                var acc = 0.0
                for i in 0..<g {
                    let q = clamp(round((xs[i] - m) / s), 0, 15)
                    let e = Double(m.addingProduct(q, s)) - Double(xs[i])
                    acc += Double(ws[i]) * (e * e)
                }
                return acc
            }
            var best = error(scale, offset)
            for k in 0..<21 {
                let iscale = (Float(14) + Float(0.1) * Float(k)) / (hi - lo)
                var sw = 0.0, sl = 0.0, sl2 = 0.0, sx = 0.0, slx = 0.0
                for i in 0..<g {
                    let q = Double(clamp(round((xs[i] - lo) * iscale), 0, 15)), wi = Double(ws[i]), xi = Double(xs[i])
                    sw += wi
                    sl += wi * q
                    sl2 += wi * q * q
                    sx += wi * xi
                    slx += wi * q * xi
                }
                let det = sw * sl2 - sl * sl
                guard det > 0 else { continue }
                let s = Float((sw * slx - sl * sx) / det), m = Float((sl2 * sx - sl * slx) / det)
                guard s > 0, s.isFinite, m.isFinite else { continue }
                let e = error(s, m)
                if e < best { (best, scale, offset) = (e, s, m) }
            }
            return (scale, offset)
        default:
            let (hi, lo): (Float, Float) = type.bits == 8 ? (127, -127) : (7, -8)
            let amax = xs.map(abs).max()!
            var scale: Float = amax > 0 ? amax / hi : 1
            guard amax > 0 else { return (scale, 0) }
            func error(_ s: Float) -> Double {
                var acc = 0.0
                for i in 0..<g {
                    let q = clamp(round(xs[i] / s), lo, hi)
                    let e = Double((q + 0) * s) - Double(xs[i])
                    acc += Double(ws[i]) * (e * e)
                }
                return acc
            }
            var best = error(scale)
            for k in 0..<21 {
                let iscale = (hi - 1 + Float(0.1) * Float(k)) / amax
                var num = 0.0, den = 0.0
                for i in 0..<g {
                    let q = Double(clamp(round(xs[i] * iscale), lo, hi)), wq = Double(ws[i]) * q
                    num += wq * Double(xs[i])
                    den += wq * q
                }
                guard den > 0 else { continue }
                let s = Float(num / den)
                guard s > 0, s.isFinite else { continue }
                let e = error(s)
                if e < best { (best, scale) = (e, s) }
            }
            return (scale, 0)
        }
    }
}

/// Σ wᵢ(decodedᵢ − xᵢ)² in double.
func weightedError(_ x: [Float], _ decoded: [Float], _ w: [Float]) -> Double {
    (0..<x.count).reduce(0.0) { acc, i in
        let e = Double(decoded[i]) - Double(x[i])
        return acc + Double(w[i]) * e * e
    }
}

@Suite("weighted rounding")
struct WeightedRoundingTests {
    static let types: [StorageType] = [8, 32, 64].flatMap { g in
        [StorageType.q8(group: g), .q4(group: g, asymmetric: true), .q4(group: g, asymmetric: false)]
    }

    /// Seeded non-negative importance weights, spread over three orders of magnitude like real activation statistics.
    static func importance(_ n: Int, seed: UInt32) -> [Float] {
        SeededValues.floats(n, seed: seed, scale: 3).map { Float(pow(10.0, Double($0))) }
    }

    /// The C search picks exactly the reference's scales and offsets, with given weights and with x², and the row
    /// bytes keep the format (same length; read back by the loaders as the values the encoder reports).
    @Test(arguments: types)
    func scalesMatchThePlainSwiftSearch(_ t: StorageType) {
        for (r, row) in encoderTestRows(count: 256).enumerated() {
            for w in [Self.importance(256, seed: UInt32(7 + r)), nil] {
                let (bytes, decoded) = WeightQuantizer.encode(row, as: t, search: .weighted, importance: w)
                #expect(bytes.count == t.rowBytes(cols: 256))
                let weights = w ?? row.map { $0 * $0 }
                let expected = referenceWeightedScales(row, weights, as: t)
                let groups = expected.count
                let scales = (0..<groups).map { k in bytes.withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self))) } }
                #expect(scales.map(\.bitPattern) == expected.map(\.scale.bitPattern), "\(t), row \(r)")
                if case .q4(_, true) = t {
                    let offsets = (0..<groups).map { k in bytes.withUnsafeBytes { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * (groups + k), as: UInt32.self))) } }
                    #expect(offsets.map(\.bitPattern) == expected.map(\.offset.bitPattern), "\(t), row \(r)")
                }
                let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: t, rows: 1, cols: 256).rowValues(0) }
                #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern))
            }
        }
    }

    /// On 2 000 random groups per type, with random weights and with x², the weighted search never has a larger
    /// weighted error than round to nearest, and is strictly smaller on most groups.
    @Test(arguments: types)
    func neverWorseThanRoundToNearest(_ t: StorageType) {
        let g = t.group(cols: 1)!, groups = 2000 / max(1, g / 8)
        var better = 0, total = 0
        for k in 0..<groups {
            let row = SeededValues.floats(g, seed: UInt32(1000 + k), scale: k % 3 == 0 ? 0.05 : 2)
            for w in [Self.importance(g, seed: UInt32(5000 + k)), row.map { $0 * $0 }] {
                let nearest = WeightQuantizer.encode(row, as: t).decoded
                let weighted = WeightQuantizer.encode(row, as: t, search: .weighted, importance: w).decoded
                let en = weightedError(row, nearest, w), ew = weightedError(row, weighted, w)
                #expect(ew <= en, "\(t) group \(k): weighted \(ew) > nearest \(en)")
                if ew < en { better += 1 }
                total += 1
            }
        }
        #expect(better * 2 > total, "\(t): better on only \(better) of \(total) groups")
    }

    /// The same inputs give the same bytes, and narrow sources search on their widened values.
    @Test func deterministicAndSourceIndependent() {
        let row = SeededValues.floats(512, seed: 3, scale: 1), w = Self.importance(512, seed: 4)
        let t = StorageType.q4(group: 32, asymmetric: true)
        let a = WeightQuantizer.encode(row, as: t, search: .weighted, importance: w).bytes
        #expect(a == WeightQuantizer.encode(row, as: t, search: .weighted, importance: w).bytes)
        let bf16 = row.map(ScalarConversion.floatToBF16)
        let widened = bf16.map { Float(bitPattern: UInt32($0) << 16) }
        var direct = [UInt8](repeating: 0, count: t.rowBytes(cols: 512)), errors = WeightQuantizer.ErrorSums()
        bf16.withUnsafeBytes { s in
            w.withUnsafeBufferPointer { wp in
                direct.withUnsafeMutableBytes {
                    WeightQuantizer.encode(s.baseAddress!, storedAs: .bf16, count: 512, as: t, search: .weighted, importance: wp.baseAddress,
                                           into: $0.baseAddress!, errors: &errors)
                }
            }
        }
        #expect(direct == WeightQuantizer.encode(widened, as: t, search: .weighted, importance: w).bytes)
        // Whole-row q8 groups (larger than the encoder's stack buffer) search too.
        let wide = SeededValues.floats(1024, seed: 9, scale: 1)
        let rowScale = WeightQuantizer.encode(wide, as: .q8(group: 1024), search: .weighted).bytes.prefix(4)
        let expected = referenceWeightedScales(wide, wide.map { $0 * $0 }, as: .q8(group: 1024))[0].scale
        #expect(Array(rowScale) == withUnsafeBytes(of: expected.bitPattern.littleEndian, Array.init))
    }
}
