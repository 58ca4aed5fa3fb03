import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel
@testable import BFFNPack
import BFFNTestSupport
import Testing

/// Each pack rule lives in one function that every caller uses: the alignment, the override classes, and the
/// expert section's planned offset (which the writer checks against what it wrote).
@Suite("pack rules")
struct PackRulesTests {
    @Test func oneAlignmentRule() throws {
        let good = [64, 128, 4096, 16384, 1 << 20], bad = [0, 32, 63, 96, 4095, 3 << 10, 1 << 21, -64]
        #expect(good.allSatisfy { PackHeader.isSupportedAlignment($0) })
        #expect(!bad.contains { PackHeader.isSupportedAlignment($0) })
        #expect(PackHeader.isSupportedAlignment(UInt32(4096)) && !PackHeader.isSupportedAlignment(UInt32(48)))
        // The writer and skill-card packs refuse what the rule refuses, before reading anything.
        var o = ConvertOptions()
        o.alignment = 96
        let dir = TemporaryDirectory()
        #expect(throws: BFFNError(.usage, "")) { try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("m.bfpk"), options: o) }
    }

    @Test func overridesParseAndCheckInOnePlace() throws {
        let o = try StorageOverride(parsing: "Attention=q4/g64/sym")
        #expect(o.tensorClass == .attention && o.storage == .q4(group: 64, asymmetric: false))
        #expect(try StorageOverride(parsing: "head=q8").storage == .q8(group: nil))
        for bad in ["router=q8", "norms=bf16", "attention", "mlp=q8", "attention=q5"] {
            #expect(throws: BFFNError(.usage, ""), "\(bad)") { try StorageOverride(parsing: bad) }
        }
        // A fixed class cannot even be named in the options: the writer never sees such an override.
        #expect(throws: BFFNError(.usage, "")) { try StorageOverride(.router, .q8(group: nil)) }
        #expect(throws: BFFNError(.usage, "")) { try StorageOverride(.norms, .f16) }
        _ = try StorageOverride(.embeddings, .bf16)
    }

    @Test func theWriterPutsTheExpertsWhereTheLayoutPlannedThem() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.alignment = 1024
        o.quant = .q8(group: nil)
        _ = try PackWriter.convert(source: Fixtures.blockLinearReference, to: dir.file("m.bfpk"), options: o)
        let plan = try PackLayout(weights: ModelWeights(checkpoint: Checkpoint(path: Fixtures.blockLinearReference)), options: o)
        let experts = try #require(try PackFile(path: dir.file("m.bfpk")).experts)
        #expect(experts.offset == plan.expertsOffset && experts.offset > 0 && experts.offset % 1024 == 0)
        // A disagreement is an internal error naming the field, never a silently inconsistent pack.
        try PackWriter.checkPlannedOffset(8192, planned: 8192)
        do {
            try PackWriter.checkPlannedOffset(8192, planned: 4096)
            Issue.record("a writer offset that differs from the plan was accepted")
        } catch let e as BFFNError {
            #expect(e.code == .internalError && e.location.field == "experts.offset" && e.reason.contains("4096"))
        }
    }
}
