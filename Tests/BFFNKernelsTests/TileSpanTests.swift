import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// Several tokens walk a tile range in spans of about 256 KiB of weights (every token passes over a span while it
/// is in cache); these shapes are large enough to need several spans, for a single matrix and for a down
/// projection's union, and a call over all tokens must give the bits of one call per token.
@Suite("products over several cache spans")
struct TileSpanTests {
    static let cases: [(StorageType, ActivationPrecision)] = [
        (.q4(group: 32, asymmetric: true), .int8), (.q8(group: nil), .int8), (.bf16, .bf16),
    ]

    static func rows(_ count: Int, _ n: Int, _ type: StorageType, seed: UInt32) -> [UInt8] {
        (0..<count).flatMap { WeightQuantizer.encode(SeededValues.floats(n, seed: seed + UInt32($0)), as: type).bytes }
    }

    @Test(arguments: 0..<3)
    func matrixOverSeveralSpansEqualsOneTokenCalls(_ c: Int) {
        let (type, activations) = Self.cases[c]
        // 768 columns: 7.5 KiB (q4), 13.5 KiB (q8) or 24 KiB (bf16) a tile of 16 rows; 36 tiles span 2 to 4 spans.
        let rows = 16 * 35 + 7, n = 768, tokens = 7
        let bytes = Self.rows(rows, n, type, seed: 1000)
        let x = SeededValues.floats(tokens * n, seed: 2000)
        bytes.withUnsafeBytes { wb in
            let w = WeightMatrix(base: wb.baseAddress!, type: type, rows: rows, cols: n)
            var all = [Float](repeating: .nan, count: tokens * rows)
            x.withUnsafeBufferPointer { xp in
                MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: w, out: &all, outStride: rows, threads: 1, activations: activations)
                for t in 0..<tokens {
                    var one = [Float](repeating: .nan, count: rows)
                    MatMul.run(x: xp.baseAddress! + t * n, tokens: 1, xStride: n, w: w, out: &one, outStride: rows, threads: 1, activations: activations)
                    let differing = (0..<rows).filter { one[$0].bitPattern != all[t * rows + $0].bitPattern }
                    #expect(differing.isEmpty, "\(type): token \(t), \(differing.count) rows differ, the first \(differing.first ?? -1)")
                }
            }
        }
    }

    @Test(arguments: 0..<3)
    func unionOverSeveralSpansEqualsOneTokenCalls(_ c: Int) {
        let (type, activations) = Self.cases[c]
        // Experts of 64 columns and 4000 outputs: a union of two experts' tiles is 1.25 KiB (q4) to 4 KiB (bf16)
        // a tile, 250 tiles cross at least one span boundary.
        let H = 4000, de = 64, tokens = 7
        let blocks = (0..<2).map { Self.rows(H, de, type, seed: 3000 + UInt32($0) * 5000) }
        let gates = SeededValues.floats(tokens * 2 * de, seed: 4000)
        blocks[0].withUnsafeBytes { b0 in
            blocks[1].withUnsafeBytes { b1 in
                let m = [b0, b1].map { WeightMatrix(base: $0.baseAddress!, type: type, rows: H, cols: de) }
                var all = [Float](repeating: .nan, count: tokens * H)
                gates.withUnsafeBufferPointer { g in
                    ExpertMatMul.down(g: g.baseAddress!, tokens: tokens, blocks: m, out: &all, threads: 1, activations: activations)
                    for t in 0..<tokens {
                        var one = [Float](repeating: .nan, count: H)
                        ExpertMatMul.down(g: g.baseAddress! + t * 2 * de, tokens: 1, blocks: m, out: &one, threads: 1, activations: activations)
                        let differing = (0..<H).filter { one[$0].bitPattern != all[t * H + $0].bitPattern }
                        #expect(differing.isEmpty, "\(type): token \(t), \(differing.count) outputs differ, the first \(differing.first ?? -1)")
                    }
                }
                #expect(all.contains { $0 != 0 && !$0.isNaN })
            }
        }
    }
}
