import BFFNCore
import BFFNTestSupport
import Testing

/// `bffn calibrate --sensitivity`: each class alone quantized, measured on a text against the source.
@Suite("calibrate --sensitivity") struct SensitivityTests {
    @Test func eachClassAloneAndTheSameFiguresAsConvertThenVerify() throws {
        let dir = TemporaryDirectory()
        let heldout = String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/heldout.txt"), as: UTF8.self)
        let text = try dir.write("t.txt", text: String(heldout.prefix(1500)))
        let r = try runBFFN(["calibrate", Fixtures.trainedModel, "--text", text, "--sensitivity", "--plot", dir.file("s.png"), "--json", "-t", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        let rows = try #require(j["classes"]?.arrayElements)
        #expect(rows.compactMap { $0["class"]?.stringValue } == ["embeddings", "attention", "experts", "head"])
        #expect(rows.allSatisfy { ($0["mean_kld"]?.numberValue ?? 0) > 0 && $0["storage"] == "q4/g32/asym" })
        #expect(try Array(Fixtures.bytes(dir.file("s.png")).prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        // The experts row is what converting with that one override and verifying on the text gives.
        #expect(try runBFFN(["convert", Fixtures.trainedModel, "-o", dir.file("x.bfpk"), "--override", "experts=q4", "-q"]).status == 0)
        let v = try JSONValue.parse(try runBFFN(["verify", dir.file("x.bfpk"), "--reference", Fixtures.trainedModel, "--text", text,
                                                 "--speculative", "none", "--json", "-t", "2"]).stdout)
        let experts = try #require(rows.first { $0["class"] == "experts" })
        #expect(v["text"]?["kld_mean"]?.numberValue == experts["mean_kld"]?.numberValue, "\(String(describing: v["text"]))")
        #expect(try runBFFN(["calibrate", Fixtures.trainedModel, "--text", text, "--plot", dir.file("p.png")]).status == 2)
        #expect(try runBFFN(["calibrate", Fixtures.trainedModel, "--text", text, "-o", dir.file("s.st"), "--per-layer"]).status == 2)
    }

    /// --per-layer: each layer's attention apart and the experts' two parts apart, each row what converting with that
    /// one scoped override and verifying gives.
    @Test func perLayerMeasuresEachLayerAndEachExpertPart() throws {
        let dir = TemporaryDirectory()
        let heldout = String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/heldout.txt"), as: UTF8.self)
        let text = try dir.write("t.txt", text: String(heldout.prefix(600)))
        let r = try runBFFN(["calibrate", Fixtures.trainedModel, "--text", text, "--sensitivity", "--per-layer", "--sensitivity-quant", "q3k",
                             "--json", "-t", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try #require(try JSONValue.parse(r.stdout)["classes"]?.arrayElements)
        #expect(rows.compactMap { $0["scope"]?.stringValue } == ["embeddings"] + (0..<7).map { "attention@\($0)" } + ["experts.up", "experts.down", "head"])
        #expect(rows.allSatisfy { ($0["mean_kld"]?.numberValue ?? 0) > 0 && $0["storage"] == "q3k" })
        #expect(try runBFFN(["convert", Fixtures.trainedModel, "-o", dir.file("x.bfpk"), "--override", "attention@3=q3k", "-q"]).status == 0)
        let v = try JSONValue.parse(try runBFFN(["verify", dir.file("x.bfpk"), "--reference", Fixtures.trainedModel, "--text", text,
                                                 "--speculative", "none", "--json", "-t", "2"]).stdout)
        let layer3 = try #require(rows.first { $0["scope"] == "attention@3" })
        #expect(v["text"]?["kld_mean"]?.numberValue == layer3["mean_kld"]?.numberValue)
    }
}
