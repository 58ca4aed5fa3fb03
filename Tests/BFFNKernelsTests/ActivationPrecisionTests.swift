import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// `--activations auto` (the command line's default): the fastest exact path for each weight type, never the
/// slow portable bf16 emulation; explicit bf16 still runs it (bit-compatibility checks); reports name the choice.
@Suite("activation precision", .serialized)
struct ActivationPrecisionTests {
    @Test func autoChoosesIntegerProductsForQuantizedRowsAndFloatForFloatRows() {
        for type in [StorageType.q8(group: nil), .q8(group: 32), .q4(group: 32, asymmetric: true), .q4(group: 32, asymmetric: false)] {
            #expect(ActivationPrecision.auto.effective(for: type) == .int8)
            #expect(WeightTiles.applies(.auto, to: type))
        }
        for type in [StorageType.f32, .f16] {
            #expect(ActivationPrecision.auto.effective(for: type) == .float)
            #expect(!WeightTiles.applies(.auto, to: type))
        }
        // The explicit choices are themselves.
        for p in [ActivationPrecision.float, .int8, .bf16] { #expect(p.effective(for: .q8(group: nil)) == p && p.effective(for: .bf16) == p) }
        #expect(ActivationPrecision(rawValue: "auto") == .auto && ActivationPrecision.allCases.first == .auto)
    }

    @Test func autoTakesBF16ProductsOnlyWhereTheyAreFast() {
        defer { BF16Dot.useBest() }
        // The portable emulation: auto takes float32, explicit bf16 still the emulation.
        BF16Dot.use("emulated")
        #expect(BF16Dot.instructionSet == "emulated")
        #expect(ActivationPrecision.auto.effective(for: .bf16) == .float && !WeightTiles.applies(.auto, to: .bf16))
        #expect(ActivationPrecision.bf16.effective(for: .bf16) == .bf16 && WeightTiles.applies(.bf16, to: .bf16))
        #expect(ActivationPrecision.auto.label(for: [.bf16]) == "auto -> float32")
        #expect(ActivationPrecision.bf16.label(for: [.bf16]) == "bf16, bf16 products (emulated)")
        // Every vector path (AVX512_BF16, the AVX2 emulation, NEON) this CPU has.
        for path in BF16Dot.instructionSets.dropFirst() where BF16Dot.use(path) == path {
            #expect(ActivationPrecision.auto.effective(for: .bf16) == .bf16 && WeightTiles.applies(.auto, to: .bf16))
            #expect(ActivationPrecision.auto.label(for: [.bf16]) == "auto -> bf16, bf16 products (\(path))")
        }
    }

    @Test func labelsNameWhatRan() {
        let int8 = "int8, integer products (\(IntegerDot.instructionSet))"
        #expect(ActivationPrecision.auto.label(for: [.q8(group: nil), .f32]) == "auto -> " + int8)
        #expect(ActivationPrecision.auto.label(for: [StorageType.f32]) == "auto -> float32")
        #expect(ActivationPrecision.int8.label(for: [.q4(group: 32, asymmetric: true)]) == int8)
        #expect(ActivationPrecision.int8.label(for: [StorageType.bf16]) == "float32 (no q8/q4 weights)")
        #expect(ActivationPrecision.bf16.label(for: [StorageType.q8(group: nil)]) == "float32 (no bf16 weights)")
        #expect(ActivationPrecision.float.label(for: [StorageType.q8(group: nil)]) == "float32")
    }

    /// Products through auto are bit for bit those of the path it names: int8 on q8 rows, float on f32 rows.
    @Test func autoGivesTheBitsOfThePathItChooses() {
        let rows = 37, n = 256, tokens = 3
        let x = SeededValues.floats(tokens * n, seed: 5), values = SeededValues.floats(rows * n, seed: 6)
        for type in [StorageType.q8(group: nil), .f32] {
            var stored: [UInt8] = []
            for r in 0..<rows { stored += WeightQuantizer.encode(Array(values[(r * n)..<((r + 1) * n)]), as: type).bytes }
            func run(_ p: ActivationPrecision) -> [UInt32] {
                var out = [Float](repeating: 0, count: tokens * rows)
                stored.withUnsafeBytes { wb in
                    x.withUnsafeBufferPointer { xp in
                        MatMul.run(x: xp.baseAddress!, tokens: tokens, xStride: n, w: WeightMatrix(base: wb.baseAddress!, type: type, rows: rows, cols: n),
                                   out: &out, outStride: rows, threads: 1, activations: p)
                    }
                }
                return out.map(\.bitPattern)
            }
            let chosen = ActivationPrecision.auto.effective(for: type)
            #expect(run(.auto) == run(chosen), "\(type)")
            if type == .q8(group: nil) { #expect(chosen == .int8 && run(.int8) != run(.float)) }
        }
    }
}
