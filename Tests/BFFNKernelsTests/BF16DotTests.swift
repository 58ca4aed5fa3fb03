import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The bf16 products (formats/numerics.md, "bf16") against an element-by-element Swift transcription, with the
/// vector path where this CPU has one (the AVX-512 BF16 instruction, NEON) and with the portable emulation; and batch
/// invariance and dense = sparse through the matrix products.
@Suite("bf16 dot products", .serialized)
struct BF16DotTests {
    static func bf16(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if x.isNaN { return UInt16(u >> 16) | 0x40 }
        return UInt16((u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16)
    }
    /// A bf16 value widened, denormals read as zero.
    static func widen(_ h: UInt16) -> Float {
        var u = UInt32(h) << 16
        if u & 0x7f80_0000 == 0 { u &= 0x8000_0000 }
        return Float(bitPattern: u)
    }
    static func flush(_ f: Float) -> Float { f.bitPattern & 0x7f80_0000 == 0 ? Float(bitPattern: f.bitPattern & 0x8000_0000) : f }

    /// The documented arithmetic over row segments (each n elements; activations concatenated): pair k of each
    /// segment into accumulator k mod 4, as vdpbf16ps takes a pair (the odd element first), each element a fused
    /// multiply-add.
    static func reference(_ x: [Float], _ rows: [[UInt16]]) -> Float {
        reference(rows.indices.map { r in x[(r * rows[0].count)..<((r + 1) * rows[0].count)].map(bf16) }, rows)
    }

    /// The same on activations already rounded (one segment per row).
    static func reference(_ xb: [[UInt16]], _ rows: [[UInt16]]) -> Float {
        let n = rows[0].count
        var acc = [Float](repeating: 0, count: 4)
        for (r, w) in rows.enumerated() {
            func step(_ a: Float, _ e: Int) -> Float { e < n ? flush(a.addingProduct(widen(xb[r][e]), widen(w[e]))) : flush(a + 0) }
            for k in 0..<((n + 1) / 2) {
                acc[k % 4] = step(acc[k % 4], 2 * k + 1)
                acc[k % 4] = step(acc[k % 4], 2 * k)
            }
        }
        return (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    static func row(_ n: Int, seed: UInt32) -> [UInt16] { SeededValues.floats(n, seed: seed).map(bf16) }

    @Test func instructionAndEmulationGiveTheDocumentedBits() {
        defer { BF16Dot.useBest() }
        for n in [7, 8, 16, 40, 64, 100, 101, 768] {
            let w = Self.row(n, seed: UInt32(n)), x = SeededValues.floats(n, seed: 77)
            let expected = Self.reference(x, [w])
            for path in BF16Dot.instructionSets where BF16Dot.use(path) == path {
                let got = w.withUnsafeBufferPointer { BF16Dot.dot(x, row: $0.baseAddress!) }
                #expect(got.bitPattern == expected.bitPattern, "n \(n), \(path): \(got) vs \(expected)")
            }
        }
    }

    /// The arithmetic with each product rounded on its own before the sum (what the emulation did until the kernel
    /// check compared it with the instruction on tiny values).
    static func unfused(_ x: [Float], _ w: [UInt16]) -> Float {
        let xb = x.map(bf16), n = w.count
        var acc = [Float](repeating: 0, count: 4)
        for k in 0..<((n + 1) / 2) {
            for e in [2 * k + 1, 2 * k] where e < n { acc[k % 4] = flush(acc[k % 4] + widen(xb[e]) * widen(w[e])) }
        }
        return (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    /// Products below float32's normal range added to normal sums (activations about 2^-62, every third weight about
    /// 2^-60, the others about 2^-80: sums near 2^-120 and products near 2^-142, which float32 can hold only to
    /// 2^-149): vdpbf16ps keeps each product exact inside a fused multiply-add, and so must every path; rounding the
    /// products first differs on some of these rows.
    @Test func productsBelowTheNormalRangeAreFused() {
        defer { BF16Dot.useBest() }
        let n = 64
        var differFromUnfused = 0
        for seed in 0..<40 {
            let w = SeededValues.floats(n, seed: UInt32(900 + seed)).enumerated().map { i, v in Self.bf16(v * (i % 3 == 0 ? 0x1p-60 : 0x1p-80)) }
            let x = SeededValues.floats(n, seed: UInt32(950 + seed)).map { $0 * 0x1p-62 }
            let expected = Self.reference(x, [w])
            if expected.bitPattern != Self.unfused(x, w).bitPattern { differFromUnfused += 1 }
            for path in BF16Dot.instructionSets where BF16Dot.use(path) == path {
                let got = w.withUnsafeBufferPointer { BF16Dot.dot(x, row: $0.baseAddress!) }
                #expect(got.bitPattern == expected.bitPattern, "seed \(seed), \(BF16Dot.instructionSet): \(got) vs \(expected)")
            }
        }
        #expect(differFromUnfused > 0)
    }

    @Test func batchInvarianceAndDenseEqualsSparse() {
        defer { BF16Dot.useBest() }
        for path in BF16Dot.instructionSets where BF16Dot.use(path) == path {
            let rows = 24, n = 80, tokens = 9
            let w = (0..<rows).flatMap { Self.row(n, seed: UInt32(500 + $0)) }
            let x = SeededValues.floats(tokens * n, seed: 600)
            w.withUnsafeBytes { wb in
                let m = WeightMatrix(base: wb.baseAddress!, type: .bf16, rows: rows, cols: n)
                var batch = [Float](repeating: 0, count: tokens * rows), two = batch
                x.withUnsafeBufferPointer { xp in
                    MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: m, out: &batch, outStride: rows, threads: 1, activations: .bf16)
                    MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: m, out: &two, outStride: rows, threads: 2, activations: .bf16)
                }
                #expect(batch.map(\.bitPattern) == two.map(\.bitPattern))
                for t in 0..<tokens {
                    for r in 0..<rows {
                        let expected = Self.reference(Array(x[(t * n)..<((t + 1) * n)]), [Array(w[(r * n)..<((r + 1) * n)])])
                        #expect(batch[t * rows + r].bitPattern == expected.bitPattern, "\(path): token \(t), row \(r)")
                    }
                }
            }
            // Down projection: 3 experts of 32 columns, H = 6; expert 1's gates zero; union {0, 2}.
            let de = 32, H = 6
            let blocks = (0..<3).map { e in (0..<H).flatMap { h in Self.row(de, seed: UInt32(700 + e * H + h)) } }
            let bytes = blocks.map { b in b.withUnsafeBytes { Array($0) } }
            let down = ZeroExpertDown(blocks: bytes, type: .bf16, outputs: H, expertSize: de, tokens: tokens, seed: 800, activations: .bf16)
            #expect(down.dense.map(\.bitPattern) == down.sparse.map(\.bitPattern), "\(path)")
            for t in 0..<tokens {
                for h in 0..<H {
                    let rows = (0..<3).map { e in Array(blocks[e][(h * de)..<((h + 1) * de)]) }
                    #expect(down.dense[t * H + h].bitPattern == Self.reference(down.gates(token: t, expertSize: de), rows).bitPattern)
                }
            }
        }
    }
}
