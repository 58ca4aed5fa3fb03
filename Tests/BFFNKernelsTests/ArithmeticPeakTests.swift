import BFFNKernels
import Testing

@Suite("arithmetic peak")
struct ArithmeticPeakTests {
    /// The instruction follows what the products run: int8 for q8 / q4 rows under auto or int8, bf16 for bf16 rows
    /// where vdpbf16ps exists, float otherwise.
    @Test func theKindFollowsTheProducts() {
        #expect(ArithmeticPeak.kind(for: .q4(group: 32, asymmetric: true), activations: .auto) == .int8)
        #expect(ArithmeticPeak.kind(for: .q8(group: nil), activations: .int8) == .int8)
        #expect(ArithmeticPeak.kind(for: .q8(group: nil), activations: .float) == .float)
        #expect(ArithmeticPeak.kind(for: .f32, activations: .auto) == .float)
        let bf16 = ArithmeticPeak.kind(for: .bf16, activations: .auto)
        #expect(bf16 == (BF16Dot.instructionSet == "avx512-bf16" ? .bf16 : .float))
    }

    /// Measured peaks are positive and ordered as the instructions' widths say: an int8 dot product does at least
    /// as many operations per instruction as a float32 fma of the same width (2 x 4 bytes against 2 x 1 float).
    @Test func peaksAreMeasuredOnEveryThread() {
        let float = ArithmeticPeak.gigaOperationsPerSecond(.float, threads: 2)
        let int8 = ArithmeticPeak.gigaOperationsPerSecond(.int8, threads: 2)
        #expect(float > 1, "float \(float)")
        if IntegerDot.instructionSet != "portable" { #expect(int8 > float, "int8 \(int8), float \(float)") } else { #expect(int8 == 0) }
        defer { IntegerDot.useBest() }
        IntegerDot.use("portable")
        #expect(ArithmeticPeak.gigaOperationsPerSecond(.int8, threads: 1) == 0)
        let bf16 = ArithmeticPeak.gigaOperationsPerSecond(.bf16, threads: 1)
        #expect((bf16 > 0) == (BF16Dot.instructionSet == "avx512-bf16"))
    }
}
