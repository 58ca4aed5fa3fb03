import BFFNCore

/// One comparison of an instruction set's products with the portable kernels' on the same inputs.
public struct KernelCheckResult: Sendable, Equatable {
    /// The products compared, e.g. "int8 x q4 asymmetric, groups of 32".
    public let products: String
    /// The instruction set checked (one of `IntegerDot.instructionSets` but "portable", or of
    /// `BF16Dot.instructionSets` but "emulated" for the bf16 products).
    public let instructionSet: String
    /// Outputs compared (several shapes, one token and several, a matrix and a down projection's union).
    public let outputs: Int
    /// Outputs whose float32 bits differ from the portable kernels'.
    public let differing: Int
    /// Whether every output has the portable kernels' bits.
    public var passed: Bool { differing == 0 }
}

/// Checks that this CPU's instruction sets give the bits of the portable kernels (formats/numerics.md: every level
/// computes the same documented arithmetic), on seeded weights and activations: int8 products for q8 and q4
/// (symmetric and asymmetric) rows with several group sizes, and bf16 products. The tests prove this on the machines
/// they run on; this lets a user prove it on theirs (`bffn kernels`).
public enum KernelCheck {
    /// The storage types checked with int8 activations.
    static let integerTypes: [StorageType] = [.q8(group: nil), .q8(group: 32)] + [32, 128].flatMap { g in
        [StorageType.q4(group: g, asymmetric: true), .q4(group: g, asymmetric: false)]
    } + [.q3k, .q4k, .q5k, .q6k]

    /// Runs every check and restores the best instruction sets. It switches the process-wide kernel choice, so no
    /// other thread may compute products meanwhile. One entry per product kind and non-portable instruction set
    /// this CPU has (none where it has only the portable kernels).
    public static func run() -> [KernelCheckResult] {
        defer {
            IntegerDot.useBest()
            BF16Dot.useBest()
        }
        var results: [KernelCheckResult] = []
        for type in integerTypes {
            IntegerDot.use("portable")
            let reference = outputs(type, activations: .int8)
            for set in IntegerDot.instructionSets.dropFirst() where IntegerDot.use(set) == set {
                results.append(KernelCheckResult(products: "int8 x \(describe(type))", instructionSet: set, outputs: reference.count,
                                                 differing: differing(outputs(type, activations: .int8), reference)))
            }
        }
        BF16Dot.use("emulated")
        let reference = outputs(.bf16, activations: .bf16)
        for set in BF16Dot.instructionSets.dropFirst() where BF16Dot.use(set) == set {
            results.append(KernelCheckResult(products: "bf16 x bf16", instructionSet: set, outputs: reference.count,
                                             differing: differing(outputs(.bf16, activations: .bf16), reference)))
        }
        return results
    }

    /// How many positions hold different float32 bits (a length difference counts every missing position).
    static func differing(_ a: [Float], _ b: [Float]) -> Int {
        zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count + abs(a.count - b.count)
    }

    static func describe(_ type: StorageType) -> String {
        switch type {
        case .q8(let g): return g.map { "q8, groups of \($0)" } ?? "q8, one group a row"
        case .q4(let g, let a): return "q4 \(a ? "asymmetric" : "symmetric"), groups of \(g)"
        case .q4k: return "q4k, super-blocks of 256"
        case .q5k: return "q5k, super-blocks of 256"
        case .q6k: return "q6k, super-blocks of 256"
        case .q3k: return "q3k, super-blocks of 256"
        default: return "\(type)"
        }
    }

    /// Seeded values, about N(0, 1), with one all-zero stretch and one of large values (quantization's edge cases).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        var v = (0..<count).map { _ in random.gaussian() }
        for i in 0..<min(32, count) { v[i] = 0 }
        if count > 96 { for i in 64..<96 { v[i] *= 1e4 } }
        return v
    }

    /// Encoded rows of `type`, `rows` x `n`.
    static func matrix(_ rows: Int, _ n: Int, _ type: StorageType, seed: UInt64) -> [UInt8] {
        (0..<rows).flatMap { WeightQuantizer.encode(values(n, seed: seed &+ UInt64($0)), as: type).bytes }
    }

    /// The products the check compares, with the kernels in use: a 37 x 256 matrix (a partial last tile) over one
    /// token, six (a four-token pass and a two-token one) and seven (four and three), and a down projection over a
    /// union of three experts of 64 columns (or one group) with 40 outputs, for one, six and seven tokens.
    static func outputs(_ type: StorageType, activations: ActivationPrecision) -> [Float] {
        var result: [Float] = []
        let rows = 37, n = 256
        let w = matrix(rows, n, type, seed: 11)
        let x = values(7 * n, seed: 12)
        w.withUnsafeBytes { wb in
            let m = WeightMatrix(base: wb.baseAddress!, type: type, rows: rows, cols: n)
            x.withUnsafeBufferPointer { xp in
                for tokens in [1, 6, 7] {
                    var out = [Float](repeating: 0, count: tokens * rows)
                    MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: m, out: &out, outStride: rows, threads: 1, activations: activations)
                    result += out
                }
            }
        }
        // Experts as wide as one group at least (64 columns, 128 for groups of 128).
        var de = 64
        switch type {
        case .q4(let g, _): de = max(de, g)
        case .q8(let g?): de = max(de, g)
        default: break
        }
        let H = 40
        let blocks = (0..<3).map { matrix(H, de, type, seed: 100 + UInt64($0) * 1_000) }
        let gates = values(7 * 3 * de, seed: 13).map { max($0, 0) }
        blocks[0].withUnsafeBytes { b0 in
            blocks[1].withUnsafeBytes { b1 in
                blocks[2].withUnsafeBytes { b2 in
                    let m = [b0, b1, b2].map { WeightMatrix(base: $0.baseAddress!, type: type, rows: H, cols: de) }
                    gates.withUnsafeBufferPointer { g in
                        for tokens in [1, 6, 7] {
                            var out = [Float](repeating: 0, count: tokens * H)
                            ExpertMatMul.down(g: g.baseAddress!, tokens: tokens, blocks: m, out: &out, threads: 1, activations: activations)
                            result += out
                        }
                    }
                }
            }
        }
        return result
    }
}
