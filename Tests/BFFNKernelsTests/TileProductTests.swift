import BFFNCore
import BFFNKernels
import Foundation
import BFFNTestSupport
import Testing

/// Multi-token products over long rows (the panel path: more than 2 048 elements, as the down projection over a
/// union of experts is) against the one-token dot product: the same bits for every token, any token count, any
/// thread count, rows with and without a tail, and within float rounding of a float64 reference.
@Suite("multi-token products of long rows")
struct TileProductTests {
    static func values(_ count: Int, seed: UInt32) -> [Float] { SeededValues.floats(count, seed: seed) }

    @Test(arguments: [2056, 2563, 3072, 4100])
    func longRowsGiveTheOneTokenBits(_ n: Int) {
        let rows = 37
        let weights = Self.values(rows * n, seed: UInt32(n))
        let bf16 = weights.map { ScalarConversion.floatToBF16($0) }
        let x = Self.values(13 * n, seed: 7)
        for (type, storage) in [(StorageType.f32, weights.withUnsafeBytes { Array($0) }), (.bf16, bf16.withUnsafeBytes { Array($0) })] {
            storage.withUnsafeBytes { raw in
                let w = WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: n)
                x.withUnsafeBufferPointer { xp in
                    // The one-token definition, and a float64 reference it must be close to.
                    var single = [Float](repeating: 0, count: 13 * rows)
                    for t in 0..<13 {
                        for r in 0..<rows {
                            single[t * rows + r] = Dot.dot(xp.baseAddress! + t * n, w.row(r), type, n)
                            var exact = 0.0
                            for k in 0..<n { exact += Double(xp[t * n + k]) * Double(w.element(r, k)) }
                            #expect(abs(Double(single[t * rows + r]) - exact) < 1e-4 * Double(n).squareRoot())
                        }
                    }
                    for tokens in [2, 3, 4, 7, 13] {
                        for threads in [1, 2] {
                            var out = [Float](repeating: 0, count: tokens * rows)
                            out.withUnsafeMutableBufferPointer {
                                MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: w, out: $0.baseAddress!, outStride: rows, threads: threads)
                            }
                            #expect(out.map(\.bitPattern) == single[0..<(tokens * rows)].map(\.bitPattern),
                                    "\(type) n \(n), \(tokens) tokens, \(threads) threads")
                        }
                    }
                }
            }
        }
    }

    @Test func aWideUnionDownProjectionGivesTheOneTokenBits() {
        // 40 experts of 64 (2 560 gates a token, panel path) over 96 rows, six tokens.
        let E = 40, de = 64, H = 96, T = 6
        let linear = Self.values(H * E * de, seed: 3).map { ScalarConversion.floatToBF16($0) }
        let gates = Self.values(T * E * de, seed: 4)
        linear.withUnsafeBytes { raw in
            let full = WeightMatrix(base: raw.baseAddress!, type: .bf16, rows: H, cols: E * de)
            let bands = (0..<E).map { full.columns($0 * de, de) }
            gates.withUnsafeBufferPointer { g in
                var together = [Float](repeating: 0, count: T * H)
                together.withUnsafeMutableBufferPointer {
                    ExpertMatMul.down(g: g.baseAddress!, tokens: T, blocks: bands, out: $0.baseAddress!, threads: 2)
                }
                for t in 0..<T {
                    var alone = [Float](repeating: 0, count: H)
                    alone.withUnsafeMutableBufferPointer {
                        ExpertMatMul.down(g: g.baseAddress! + t * E * de, tokens: 1, blocks: bands, out: $0.baseAddress!, threads: 1)
                    }
                    #expect(together[(t * H)..<((t + 1) * H)].map(\.bitPattern) == alone.map(\.bitPattern), "token \(t)")
                }
            }
        }
    }
}
