import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The one-token down projection over a scattered union of experts (walked expert by expert) against the dense
/// product over all experts with zero gates elsewhere: the same bits, for block_linear column bands and for
/// contiguous per-expert blocks, for unions of every size and parity and row counts that cut the tiles.
@Suite("expert down projection")
struct ExpertDownTests {
    @Test(arguments: [32, 64, 128])
    func aScatteredUnionGivesTheDenseBits(_ de: Int) {
        let E = 7, H = 300
        var values = SeededValues(seed: UInt32(de))
        func next() -> Float { values.next() }
        // block_linear down_proj [H, E·de] in bf16, and the same weights as E contiguous [H, de] blocks.
        let linear: [UInt16] = (0..<(H * E * de)).map { _ in ScalarConversion.floatToBF16(next()) }
        var blocks = [UInt16](repeating: 0, count: H * E * de)
        for e in 0..<E { for h in 0..<H { for j in 0..<de { blocks[(e * H + h) * de + j] = linear[h * E * de + e * de + j] } } }
        let gates = (0..<(E * de)).map { _ in next() }
        linear.withUnsafeBytes { lin in
            blocks.withUnsafeBytes { blk in
                let full = WeightMatrix(base: lin.baseAddress!, type: .bf16, rows: H, cols: E * de)
                let bands = (0..<E).map { full.columns($0 * de, de) }
                let separate = (0..<E).map { WeightMatrix(base: blk.baseAddress! + $0 * H * de * 2, type: .bf16, rows: H, cols: de) }
                for union in [[0, 1, 2, 3, 4, 5, 6], [3], [1, 4], [0, 2, 5], [0, 1, 3, 6], [2, 3, 4, 5, 6]] {
                    // The dense product: every expert, gates zero outside the union.
                    var denseGates = [Float](repeating: 0, count: E * de)
                    for e in union { for j in 0..<de { denseGates[e * de + j] = gates[e * de + j] } }
                    var dense = [Float](repeating: 0, count: H)
                    denseGates.withUnsafeBufferPointer { g in
                        dense.withUnsafeMutableBufferPointer { ExpertMatMul.down(g: g.baseAddress!, tokens: 1, blocks: bands, out: $0.baseAddress!, threads: 1) }
                    }
                    let unionGates = union.flatMap { e in gates[(e * de)..<((e + 1) * de)] }
                    for (layout, source) in [("block_linear", bands), ("block", separate)] {
                        for threads in [1, 2] {
                            var out = [Float](repeating: 0, count: H)
                            unionGates.withUnsafeBufferPointer { g in
                                out.withUnsafeMutableBufferPointer {
                                    ExpertMatMul.down(g: g.baseAddress!, tokens: 1, blocks: union.map { source[$0] }, out: $0.baseAddress!, threads: threads)
                                }
                            }
                            #expect(out.map(\.bitPattern) == dense.map(\.bitPattern), "\(layout), union \(union), \(threads) threads")
                        }
                    }
                }
            }
        }
    }
}
