import BFFNCore
@testable import BFFNKernels
import Testing

/// `KernelCheck` (behind `bffn kernels`): it covers every product kind with every instruction set this CPU has, its
/// inputs give outputs worth comparing, and its comparison counts differing bits.
@Suite("kernel self-check", .serialized)
struct KernelCheckTests {
    @Test func everyInstructionSetOfThisCPUIsCheckedAndGivesThePortableBits() {
        defer { IntegerDot.useBest() }
        let results = KernelCheck.run()
        let integerSets = IntegerDot.instructionSets.dropFirst().filter { IntegerDot.use($0) == $0 }
        IntegerDot.useBest()
        let bf16Paths = BF16Dot.instructionSets.dropFirst().filter { BF16Dot.use($0) == $0 }
        BF16Dot.useBest()
        let expected = KernelCheck.integerTypes.count * integerSets.count + bf16Paths.count
        #expect(results.count == expected)
        for set in integerSets { #expect(results.filter { $0.instructionSet == set && $0.products.hasPrefix("int8") }.count == KernelCheck.integerTypes.count) }
        for r in results {
            #expect(r.passed, "\(r.products) on \(r.instructionSet): \(r.differing) of \(r.outputs) differ")
            #expect(r.outputs == 1078)
        }
        // The best sets are back in use afterwards.
        #expect(IntegerDot.instructionSet == (integerSets.contains("avx512-vnni") ? "avx512-vnni" : integerSets.last ?? "portable"))
    }

    /// `bffn kernels --json` comes from the results.
    @Test func theReportSpellsEveryCheck() {
        let pass = KernelCheckResult(products: "int8 x q8", instructionSet: "avx2", outputs: 539, differing: 0)
        let fail = KernelCheckResult(products: "bf16 x bf16", instructionSet: "neon", outputs: 539, differing: 3)
        #expect(fail.json.objectMembers?.map(\.key) == ["products", "instruction_set", "outputs", "differing", "passed"])
        #expect(fail.json["differing"] == .integer(3) && fail.json["passed"] == .bool(false) && fail.json["instruction_set"] == .string("neon"))
        let report = KernelCheck.json([pass, fail])
        #expect(report.objectMembers?.map(\.key) == ["int8_instruction_set", "bf16_instruction_set", "checks", "passed"])
        #expect(report["passed"] == .bool(false) && KernelCheck.json([pass])["passed"] == .bool(true))
        #expect(report["checks"] == .array([pass.json, fail.json]) && report["int8_instruction_set"] == .string(IntegerDot.instructionSet))
    }

    @Test func theComparedOutputsAreNotTrivial() {
        for type in KernelCheck.integerTypes + [.bf16] {
            let out = KernelCheck.outputs(type, activations: type == .bf16 ? .bf16 : .int8)
            #expect(out.count == 1078)
            #expect(out.filter { $0 != 0 && $0.isFinite }.count > 500, "\(type)")
            #expect(Set(out.map(\.bitPattern)).count > 400, "\(type)")
        }
    }

    @Test func differingCountsBitsNotValues() {
        #expect(KernelCheck.differing([1, 2, 3], [1, 2, 3]) == 0)
        #expect(KernelCheck.differing([0.0, 1], [-0.0, 1]) == 1)
        #expect(KernelCheck.differing([1, .nan], [1, 2]) == 1)
        #expect(KernelCheck.differing([1, 2], [1]) == 1)
    }
}
