import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The integer products against an element-by-element Swift transcription of formats/numerics.md, on every
/// instruction set this CPU has, every stored type and group size, and rows with tails; and the matrix products'
/// batch invariance and dense = sparse with int8 activations.
@Suite("integer dot products", .serialized)
struct IntegerDotTests {
    static let types: [StorageType] = [StorageType.q8(group: nil)] + [8, 16, 32, 48, 64, 96, 128].flatMap { g in
        [StorageType.q8(group: g), .q4(group: g, asymmetric: true), .q4(group: g, asymmetric: false)]
    } + [.q3k, .q4k, .q5k, .q6k]

    /// Activations with an all-zero block, a block of tiny values, one of large values and ordinary ones.
    static func activations(_ n: Int, seed: UInt32) -> [Float] {
        var x = SeededValues.floats(n, seed: seed)
        for i in 0..<min(32, n) { x[i] = 0 }
        if n > 64 { for i in 32..<64 { x[i] *= 1e-6 } }
        if n > 96 { for i in 64..<96 { x[i] *= 1e4 } }
        return x
    }

    /// The documented arithmetic (formats/numerics.md, "int8"), written out element by element over the row
    /// segments (`rows`: segments of n elements each, activations concatenated).
    static func reference(_ x: [Float], _ rows: [[UInt8]], _ type: StorageType) -> Float {
        let n = rows.count > 0 ? x.count / rows.count : 0
        // q4k: the q4 asymmetric rows in groups of 32 it is defined to compute as (formats/numerics.md).
        if type == .q4k { return reference(x, rows.map { q4kAsQ4($0, cols: n) }, .q4(group: 32, asymmetric: true)) }
        if type == .q5k { return reference(x, rows.map { q5kAsQ8($0, cols: n) }, .q8(group: 32)) }
        if type == .q6k { return reference(x, rows.map { q6kAsQ8($0, cols: n) }, .q8(group: 32)) }
        if type == .q3k { return reference(x, rows.map { q3kAsQ4($0, cols: n) }, .q4(group: 16, asymmetric: false)) }
        let group = type.group(cols: n)!
        let block = group % 32 == 0 || group == n ? 32 : (group % 16 == 0 ? 16 : 8)
        let groups = n / group
        var asymmetric = false, q4 = false
        if case .q4(_, let a) = type { q4 = true; asymmetric = a }
        var result: Float = 0
        for (r, bytes) in rows.enumerated() {
            func f32(_ offset: Int) -> Float { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Float.self) } }
            let codeStart = groups * 4 * (asymmetric ? 2 : 1)
            func weight(_ i: Int) -> Int32 {
                if !q4 { return Int32(Int8(bitPattern: bytes[codeStart + i])) }
                let byte = bytes[codeStart + i / 2]
                let nibble = Int32(i % 2 == 0 ? byte & 15 : byte >> 4)
                return asymmetric ? nibble : nibble - 8
            }
            let xs = Array(x[(r * n)..<((r + 1) * n)])
            for g in 0..<groups {
                var partial: Float = 0, codeSum: Float = 0
                var b0 = g * group
                while b0 < (g + 1) * group {
                    let len = min(block, (g + 1) * group - b0)
                    var amax: Float = 0
                    for i in b0..<(b0 + len) where abs(xs[i]) > amax { amax = abs(xs[i]) }
                    let d = amax / 127
                    var product: Int32 = 0, sum: Int32 = 0
                    for i in b0..<(b0 + len) {
                        var v: Float = 0
                        if amax > 0 { v = max(-127, min(127, (xs[i] * (127 / amax)).rounded(.toNearestOrAwayFromZero))) }
                        product += Int32(v) * weight(i)
                        sum += Int32(v)
                    }
                    partial = partial.addingProduct(Float(product), d)
                    codeSum = codeSum + d * Float(sum)
                    b0 += len
                }
                result = result.addingProduct(partial, f32(g * 4))
                if asymmetric { result = result.addingProduct(f32(groups * 4 + g * 4), codeSum) }
            }
        }
        return result
    }

    @Test(arguments: types)
    func everyInstructionSetGivesTheDocumentedBits(_ type: StorageType) throws {
        defer { IntegerDot.useBest() }
        // Whole blocks, a tail of 8 after them, one group per row.
        for n in [40, 256, 264, 384, 1032] {
            let group = type.group(cols: n) ?? n
            guard n % group == 0 else { continue }
            let (bytes, decoded) = WeightQuantizer.encode(SeededValues.floats(n, seed: UInt32(n)), as: type)
            let x = Self.activations(n, seed: 7)
            let expected = Self.reference(x, [bytes], type)
            for set in IntegerDot.instructionSets {
                guard IntegerDot.use(set) == set else { continue }
                let got = bytes.withUnsafeBytes { IntegerDot.dot(x, row: $0.baseAddress!, type: type) }
                #expect(got.bitPattern == expected.bitPattern, "\(type), \(n) elements, \(set): \(got) vs \(expected)")
            }
            // Close to the float product of the decoded weights (int8 activations lose about 1/254 per block).
            let float = zip(x, decoded).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let scale = zip(x, decoded).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            #expect(abs(Double(expected) - float) <= 0.02 * scale + 1e-6, "\(type), \(n): \(expected) vs \(float)")
        }
    }

    /// A name that is none of the instruction sets selects the best this CPU has, as an unknown C level does.
    @Test func anUnknownNameSelectsTheBest() {
        defer { IntegerDot.useBest() }
        IntegerDot.useBest()
        let best = IntegerDot.instructionSet
        #expect(IntegerDot.use("portable") == "portable" && IntegerDot.instructionSet == "portable")
        #expect(IntegerDot.use("no-such-set") == best && IntegerDot.instructionSet == best)
        #expect(IntegerDot.use("") == best)
    }

    /// One call over T tokens equals T one-token calls, on one thread or two; and an expert down projection over a
    /// union equals the one over every expert with zero gates for the others.
    @Test(arguments: [StorageType.q8(group: nil), .q4(group: 32, asymmetric: true), .q4(group: 16, asymmetric: false), .q3k, .q4k, .q5k, .q6k])
    func batchInvarianceAndDenseEqualsSparse(_ type: StorageType) throws {
        defer { IntegerDot.useBest() }
        for set in IntegerDot.instructionSets where IntegerDot.use(set) == set {
            // Rows of 3 blocks (an odd count: the pair path and a single block) and of 4 (pairs only).
            for n in [96, 128] { try batchInvarianceAndDenseEqualsSparse(type, set, n: n) }
        }
    }

    func batchInvarianceAndDenseEqualsSparse(_ type: StorageType, _ set: String, n: Int) throws {
        let rows = 40, tokens = 9
        let encoded = (0..<rows).map { WeightQuantizer.encode(SeededValues.floats(n, seed: UInt32(100 + $0)), as: type).bytes }
        let all = encoded.flatMap { $0 }
        let x = (0..<tokens).flatMap { Self.activations(n, seed: UInt32(200 + $0)) }
        all.withUnsafeBytes { wb in
            let w = WeightMatrix(base: wb.baseAddress!, type: type, rows: rows, cols: n)
            var batch = [Float](repeating: 0, count: tokens * rows)
            var two = batch
            x.withUnsafeBufferPointer { xp in
                MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: w, out: &batch, outStride: rows, threads: 1, activations: .int8)
                MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: w, out: &two, outStride: rows, threads: 2, activations: .int8)
            }
            #expect(batch.map(\.bitPattern) == two.map(\.bitPattern), "\(set)")
            for t in 0..<tokens {
                var one = [Float](repeating: 0, count: rows)
                x.withUnsafeBufferPointer { MatMul.run(x: $0.baseAddress! + t * n, tokens: 1, xStride: n, w: w, out: &one, outStride: rows, threads: 1, activations: .int8) }
                #expect(one.map(\.bitPattern) == Array(batch[(t * rows)..<((t + 1) * rows)]).map(\.bitPattern), "\(set): token \(t)")
                for r in 0..<rows {
                    let expected = Self.reference(Array(x[(t * n)..<((t + 1) * n)]), [encoded[r]], type)
                    #expect(one[r].bitPattern == expected.bitPattern)
                }
            }
            // Down projections: 3 experts of de columns each for H = 8 outputs ([H, de] blocks); union {0, 2}. Segments
            // of 1, 2 and 8 full blocks (2 and 8: the 512-bit union path where the CPU has AVX-512 VNNI).
            for de in [32, 64, 256] {
                let H = 8, experts = 3
                let blockBytes = (0..<experts).map { e in (0..<H).flatMap { h in WeightQuantizer.encode(SeededValues.floats(de, seed: UInt32(300 + e * H + h)), as: type).bytes } }
                let down = ZeroExpertDown(blocks: blockBytes, type: type, outputs: H, expertSize: de, tokens: tokens, seed: 400, activations: .int8)
                #expect(down.dense.map(\.bitPattern) == down.sparse.map(\.bitPattern), "\(set), de \(de)")
                for t in 0..<tokens {
                    for h in 0..<H {
                        let rows = (0..<experts).map { e in Array(blockBytes[e][(h * type.rowBytes(cols: de))..<((h + 1) * type.rowBytes(cols: de))]) }
                        let expected = Self.reference(down.gates(token: t, expertSize: de), rows, type)
                        #expect(down.dense[t * H + h].bitPattern == expected.bitPattern, "\(set): down, de \(de), token \(t), output \(h)")
                    }
                }
                #expect(down.dense.contains { $0 != 0 })
            }
        }
    }

    /// Products of one input in one call (a layer's q, k and v) give the bits of separate calls, for every precision,
    /// on one thread or two.
    @Test(arguments: [StorageType.q8(group: nil), .q4(group: 32, asymmetric: true), .bf16])
    func sharedInputProductsEqualSeparateOnes(_ type: StorageType) throws {
        let n = 128, tokens = 9, shapes = [40, 17, 33]   // 90 rows x 128 x 9: large enough to split over two threads
        let bytes = shapes.enumerated().map { m, rows in
            (0..<rows).flatMap { WeightQuantizer.encode(SeededValues.floats(n, seed: UInt32(500 + m * 64 + $0)), as: type).bytes }
        }
        let x = (0..<tokens).flatMap { Self.activations(n, seed: UInt32(600 + $0)) }
        for activations in [ActivationPrecision.int8, .float, .bf16] {
            for threads in [1, 2] {
                var separate: [[Float]] = []
                var s0 = [Float](repeating: .nan, count: tokens * 40), s1 = [Float](repeating: .nan, count: tokens * 17)
                var s2 = [Float](repeating: .nan, count: tokens * 33)
                bytes[0].withUnsafeBytes { b0 in
                    bytes[1].withUnsafeBytes { b1 in
                        bytes[2].withUnsafeBytes { b2 in
                            let ws = zip([b0, b1, b2], shapes).map { WeightMatrix(base: $0.0.baseAddress!, type: type, rows: $0.1, cols: n) }
                            x.withUnsafeBufferPointer { xp in
                                for w in ws {
                                    var out = [Float](repeating: 0, count: tokens * w.rows)
                                    MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: w, out: &out, outStride: w.rows, threads: threads,
                                               activations: activations)
                                    separate.append(out)
                                }
                                s0.withUnsafeMutableBufferPointer { o0 in
                                    s1.withUnsafeMutableBufferPointer { o1 in
                                        s2.withUnsafeMutableBufferPointer { o2 in
                                            MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n,
                                                       products: [(ws[0], o0.baseAddress!, 40), (ws[1], o1.baseAddress!, 17), (ws[2], o2.baseAddress!, 33)],
                                                       threads: threads, activations: activations)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                for (m, shared) in [s0, s1, s2].enumerated() {
                    #expect(shared.map(\.bitPattern) == separate[m].map(\.bitPattern), "\(type), \(activations), \(threads) threads, matrix \(m)")
                }
            }
        }
    }

    /// Products of different inputs in one call (MLA's query and key-value up-projections: widths 96 and 64 here)
    /// give the bits of separate calls, for every precision, on one thread or two.
    @Test(arguments: [StorageType.q8(group: nil), .q4(group: 32, asymmetric: true), .bf16])
    func separateInputProductsInOneCallEqualSeparateOnes(_ type: StorageType) throws {
        let tokens = 7, shapes = [(rows: 70, cols: 96), (rows: 50, cols: 64)]
        let bytes = shapes.enumerated().map { m, s in
            (0..<s.rows).flatMap { WeightQuantizer.encode(SeededValues.floats(s.cols, seed: UInt32(700 + m * 97 + $0)), as: type).bytes }
        }
        let xs = shapes.enumerated().map { m, s in (0..<tokens).flatMap { Self.activations(s.cols, seed: UInt32(800 + m * 31 + $0)) } }
        for activations in [ActivationPrecision.int8, .float, .bf16] {
            for threads in [1, 2] {
                bytes[0].withUnsafeBytes { b0 in
                    bytes[1].withUnsafeBytes { b1 in
                        let ws = zip([b0, b1], shapes).map { WeightMatrix(base: $0.0.baseAddress!, type: type, rows: $0.1.rows, cols: $0.1.cols) }
                        var separate: [[Float]] = []
                        for (w, x) in zip(ws, xs) {
                            var out = [Float](repeating: 0, count: tokens * w.rows)
                            VectorOps.matmul(x, tokens, w, into: &out, threads: threads, activations: activations)
                            separate.append(out)
                        }
                        var o0 = [Float](repeating: .nan, count: tokens * ws[0].rows), o1 = [Float](repeating: .nan, count: tokens * ws[1].rows)
                        VectorOps.matmul(xs[0], ws[0], into: &o0, xs[1], ws[1], into: &o1, tokens: tokens, threads: threads, activations: activations)
                        #expect(o0.map(\.bitPattern) == separate[0].map(\.bitPattern), "\(type), \(activations), \(threads) threads, first")
                        #expect(o1.map(\.bitPattern) == separate[1].map(\.bitPattern), "\(type), \(activations), \(threads) threads, second")
                    }
                }
            }
        }
    }
}
