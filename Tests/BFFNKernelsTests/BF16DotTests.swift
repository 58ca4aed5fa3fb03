import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The bf16 products (formats/numerics.md, "bf16") against an element-by-element Swift transcription, with the
/// AVX-512 BF16 instruction where this CPU has it and with the emulation; and batch invariance and dense = sparse
/// through the matrix products.
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
    /// segment into accumulator k mod 4, as vdpbf16ps takes a pair (the odd element first).
    static func reference(_ x: [Float], _ rows: [[UInt16]]) -> Float {
        let n = rows[0].count
        var acc = [Float](repeating: 0, count: 4)
        for (r, w) in rows.enumerated() {
            let xb = x[(r * n)..<((r + 1) * n)].map(bf16)
            func product(_ e: Int) -> Float { e < n ? widen(xb[e]) * widen(w[e]) : 0 }
            for k in 0..<((n + 1) / 2) {
                acc[k % 4] = flush(acc[k % 4] + product(2 * k + 1))
                acc[k % 4] = flush(acc[k % 4] + product(2 * k))
            }
        }
        return (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    static func row(_ n: Int, seed: UInt32) -> [UInt16] { SeededValues.floats(n, seed: seed).map(bf16) }

    @Test func instructionAndEmulationGiveTheDocumentedBits() {
        defer { BF16Dot.useHardware(true) }
        for n in [7, 8, 16, 40, 64, 100, 101, 768] {
            let w = Self.row(n, seed: UInt32(n)), x = SeededValues.floats(n, seed: 77)
            let expected = Self.reference(x, [w])
            for hardware in [false, true] {
                let used = BF16Dot.useHardware(hardware)
                guard used == hardware else { continue }
                let got = w.withUnsafeBufferPointer { BF16Dot.dot(x, row: $0.baseAddress!) }
                #expect(got.bitPattern == expected.bitPattern, "n \(n), \(hardware ? "instruction" : "emulation"): \(got) vs \(expected)")
            }
        }
    }

    @Test func batchInvarianceAndDenseEqualsSparse() {
        defer { BF16Dot.useHardware(true) }
        for hardware in [false, true] where BF16Dot.useHardware(hardware) == hardware {
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
                        #expect(batch[t * rows + r].bitPattern == expected.bitPattern, "\(hardware): token \(t), row \(r)")
                    }
                }
            }
            // Down projection: 3 experts of 32 columns, H = 6; expert 1's gates zero; union {0, 2}.
            let de = 32, H = 6
            let blocks = (0..<3).map { e in (0..<H).flatMap { h in Self.row(de, seed: UInt32(700 + e * H + h)) } }
            let bytes = blocks.map { b in b.withUnsafeBytes { Array($0) } }
            let down = ZeroExpertDown(blocks: bytes, type: .bf16, outputs: H, expertSize: de, tokens: tokens, seed: 800, activations: .bf16)
            #expect(down.dense.map(\.bitPattern) == down.sparse.map(\.bitPattern), "\(hardware)")
            for t in 0..<tokens {
                for h in 0..<H {
                    let rows = (0..<3).map { e in Array(blocks[e][(h * de)..<((h + 1) * de)]) }
                    #expect(down.dense[t * H + h].bitPattern == Self.reference(down.gates(token: t, expertSize: de), rows).bitPattern)
                }
            }
        }
    }
}
