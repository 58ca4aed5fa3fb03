@testable import bffn
import BFFNPack
import Testing

/// `bffn convert`'s flags follow the libraries' rules: `--group-size N` and the `q4/gN` spelling accept the same
/// groups (`StorageType.isSupportedGroup`), `--align` the pack's alignment rule, and `--override` the classes
/// `StorageOverride` allows.
@Suite("convert flags")
struct ConvertRulesTests {
    func accepts(_ extra: [String]) -> Bool { (try? ConvertCommand.parse(["model", "-o", "out.bfpk"] + extra)) != nil }

    @Test(arguments: [0, 4, 8, 12, 16, 20, 24, 32, 40, 64, 96, 128, 256, 4096, 1 << 20, 1 << 20 + 8])
    func groupSizeAndSpellingAgree(_ g: Int) {
        let expected = g % 8 == 0 && g >= 8 && g <= 1 << 20
        #expect(accepts(["--quant", "q4", "--group-size", "\(g)"]) == expected)
        #expect(accepts(["--quant", "q4/g\(g)"]) == expected)
        #expect(accepts(["--quant", "q8/g\(g)/sym"]) == false)
        #expect(accepts(["--override", "attention=q8/g\(g)"]) == expected)
    }

    @Test func groupSizeQualifiesTheScheme() throws {
        // A recipe's q8/q4 storages take the group and symmetry; its k-quant ones have their own fixed layout.
        let c = try ConvertCommand.parse(["model", "-o", "out.bfpk", "--quant", "q4-all", "--group-size", "24", "--symmetric"])
        #expect(c.baseStorage?.description == "q4/g24/sym")
        let k = try ConvertCommand.parse(["model", "-o", "out.bfpk", "--quant", "q4", "--group-size", "24", "--symmetric"])
        #expect(k.baseStorage?.description == "q4k" && k.recipe?.rule(for: .head)?.storage.description == "q6k")
        #expect(k.recipe?.rule(for: .attention)?.storage.description == "q8/g24")
        let s = try ConvertCommand.parse(["model", "-o", "out.bfpk", "--quant", "q4/g64", "--symmetric"])
        #expect(s.baseStorage?.description == "q4/g64/sym" && s.recipe == nil)
    }

    @Test func alignAndOverrideFollowTheLibraries() throws {
        for a in [32, 64, 100, 4096, 1 << 20, 1 << 21] {
            #expect(accepts(["--align", "\(a)"]) == PackHeader.isSupportedAlignment(a), "\(a)")
        }
        #expect(accepts(["--override", "attention=q8", "head=q4/g64"]))
        #expect(!accepts(["--override", "router=q8"]))
        #expect(!accepts(["--override", "norms=f16"]))
        let c = try ConvertCommand.parse(["model", "-o", "out.bfpk", "--override", "attention=q8", "experts=q4", "--group-size", "64"])
        #expect(c.overrides().map(\.description) == ["attention=q8/g64", "experts=q4/g64/asym"])
        let scoped = try ConvertCommand.parse(["model", "-o", "out.bfpk", "--override", "experts.down=q6k", "attention@6,0,1-2=q8"])
        #expect(scoped.overrides().map(\.description) == ["experts.down=q6k", "attention@0-2,6=q8/row"])
        #expect(!accepts(["--override", "experts@1=q8"]))      // experts have one storage in every layer
        #expect(!accepts(["--override", "attention.up=q8"]))   // only experts have parts
        #expect(!accepts(["--override", "attention@=q8"]))
        #expect(!accepts(["--override", "attention@3-1=q8"]))
    }
}
