import BFFNCore
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNTestSupport
import Testing

/// Storage chosen per expert part and per layer: scopes parse and print back, the narrowest scope decides (for
/// overrides and for recipe rules), and a converted pack stores and records exactly what each tensor got and why.
@Suite struct ScopedStorageTests {
    @Test func scopesParseAndPrintBack() throws {
        for (text, spelled) in [("experts.down", "experts.down"), ("EXPERTS.UP", "experts.up"), ("attention@0,5-6", "attention@0,5-6"),
                                ("attention@6,0,1,2", "attention@0-2,6"), ("head", "head"), ("dense_ffn@3", "dense_ffn@3")] {
            #expect(try TensorScope(parsing: text).description == spelled, "\(text)")
        }
        for bad in ["experts@1", "attention.up", "head.down", "attention@", "attention@1-", "attention@-1", "attention@3-1", "mlp", "experts.middle"] {
            #expect(throws: BFFNError(.usage, ""), "\(bad)") { try TensorScope(parsing: bad) }
        }
        let s = try TensorScope(parsing: "attention@1,3")
        #expect(s.covers(.attention, part: nil, layer: 3) && !s.covers(.attention, part: nil, layer: 2))
        #expect(!s.covers(.attention, part: nil, layer: nil) && !s.covers(.head, part: nil, layer: 1))
        let down = try TensorScope(parsing: "experts.down")
        #expect(down.covers(.experts, part: .down, layer: nil) && !down.covers(.experts, part: .up, layer: nil))
        #expect(TensorScope(.experts).covers(.experts, part: .up, layer: nil))
    }

    @Test func theNarrowestOverrideDecidesThenTheLater() throws {
        var o = ConvertOptions()
        o.overrides = [try StorageOverride(parsing: "attention@2=q8"), try StorageOverride(parsing: "attention=q4"),
                       try StorageOverride(parsing: "attention=q6k"), try StorageOverride(parsing: "experts.up=q8"),
                       try StorageOverride(parsing: "experts=q3k")]
        #expect(o.override(for: .attention, layer: 2)?.storage == .q8(group: nil))
        #expect(o.override(for: .attention, layer: 1)?.storage == .q6k)
        #expect(o.override(for: .experts, part: .up)?.storage == .q8(group: nil))
        #expect(o.override(for: .experts, part: .down)?.storage == .q3k)
        #expect(o.override(for: .head) == nil)
    }

    @Test func theNarrowestRecipeRuleDecidesThenTheFirst() throws {
        let r = QuantRecipe(name: "t", summary: "", base: .q4k, rules: [
            .init(.attention, .q8(group: nil), "whole class"),
            .init(try TensorScope(parsing: "attention@0"), .q6k, "layer 0"),
            .init(try TensorScope(parsing: "attention@0"), .q5k, "shadowed"),
            .init(try TensorScope(parsing: "experts.down"), .q6k, "down"),
        ], search: .weighted)
        #expect(r.rule(for: .attention, layer: 0)?.reason == "layer 0")
        #expect(r.rule(for: .attention, layer: 1)?.reason == "whole class")
        #expect(r.rule(for: .experts, part: .down)?.storage == .q6k && r.rule(for: .experts, part: .up) == nil)
    }

    /// An override that covers nothing in the model (a layer past the last, the head of a tied model, the experts
    /// of a dense one) is a usage error naming it, not a silent no-op; nothing is written.
    @Test func anOverrideThatCoversNothingIsRefused() throws {
        let dir = TemporaryDirectory()
        for text in ["attention@3=q8", "dense_ffn=q8"] {
            var o = ConvertOptions()
            o.overrides = [try StorageOverride(parsing: text)]
            do {
                _ = try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("n.bfpk"), options: o)
                Issue.record("\(text) was accepted")
            } catch let e as BFFNError {
                #expect(e.code == .usage && e.reason.contains(String(text.split(separator: "=")[0])) && e.location.field == "override", "\(e)")
            }
            #expect(access(dir.file("n.bfpk"), F_OK) != 0, "\(text)")
        }
        // Covering some tensors is enough: layers 2 ... 9 of a three-layer model cover layer 2.
        var o = ConvertOptions()
        o.overrides = [try StorageOverride(parsing: "attention@2-9=q8")]
        _ = try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("n.bfpk"), options: o)
    }

    /// A pack with the experts' down projections, one layer's attention and the head stored apart: the reader
    /// gets each storage back, the manifest gives every tensor its rule, the class entry lists both storages, and
    /// the same options give the same bytes.
    @Test func aPackRecordsWhatEachTensorGotAndWhy() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.recipe = QuantRecipe(name: "t", summary: "", base: .q4(group: 16, asymmetric: true), rules: [
            .init(try TensorScope(parsing: "experts.down"), .q8(group: nil), "down measured"),
        ], search: .weighted)
        o.quant = o.recipe!.base
        o.scaleSearch = .weighted
        o.overrides = [try StorageOverride(parsing: "attention@1=q8")]
        let path = dir.file("s.bfpk")
        _ = try PackWriter.convert(source: Fixtures.blockReference, to: path, options: o)
        let pack = try PackFile(path: path)
        try pack.verifyChecksums()
        // q8 with one scale per row is stored as q8 with the row as its group.
        #expect(pack.experts?.upStorage == .q4(group: 16, asymmetric: true) && pack.experts?.downStorage == .q8(group: 16))
        let experts = try #require(pack.manifest["experts"])
        #expect(experts["up"]?["rule"]?.stringValue == "recipe t base")
        #expect(experts["down"]?["rule"]?.stringValue == "recipe t (experts.down): down measured")
        let attention = pack.tensors.filter { $0.name.contains("self_attn") && $0.shape.count == 2 }
        #expect(!attention.isEmpty)
        let entries = try #require(pack.manifest["tensors"]?.arrayElements)
        for t in attention {
            let inLayer1 = t.name.hasPrefix("model.layers.1.")
            #expect(t.storage == (inLayer1 ? .q8(group: t.shape[1]) : .q4(group: 16, asymmetric: true)), "\(t.name)")
            let entry = try #require(entries.first { $0["name"]?.stringValue == t.name })
            #expect(entry["rule"]?.stringValue == (inLayer1 ? "--override attention@1=q8/row" : "recipe t base"), "\(t.name)")
        }
        let classes = try #require(pack.manifest["quantization"]?["classes"])
        #expect(classes["experts"]?["dtype"]?.stringValue == "Q4+Q8")
        #expect(classes["attention"]?["dtype"]?.stringValue == "Q4+Q8" || classes["attention"]?["dtype"]?.stringValue == "Q8+Q4")
        #expect(classes["attention"]?["rule"]?.stringValue?.contains("--override attention@1=q8/row") == true)
        #expect(classes["norms"]?["rule"]?.stringValue == "kept")
        #expect(pack.manifest["provenance"]?["options"]?["keep"]?["attention@1"]?.stringValue == "q8/row")
        // Deterministic.
        _ = try PackWriter.convert(source: Fixtures.blockReference, to: dir.file("s2.bfpk"), options: o)
        #expect(try Fixtures.bytes(dir.file("s2.bfpk")) == (try Fixtures.bytes(path)))
    }
}
