import BFFNCore
import BFFNTestSupport
import Testing

/// `bffn plot MODEL` without prompts runs the model's own prompts (MODEL/prompts.txt, paragraphs of text encoded
/// with its tokenizer) when the folder has them, rather than the four built-in id sequences.
@Suite("plot defaults", .serialized)
struct PlotDefaultsTests {
    @Test func theTrainedModelIsPlottedOnItsOwnPrompts() throws {
        let dir = TemporaryDirectory()
        let r = try runBFFN(["plot", Fixtures.trainedModel, "-o", dir.file("p"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        // The file's paragraphs: runs of lines between blank ones.
        let text = String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/prompts.txt"), as: UTF8.self)
        var paragraphs = 0, inParagraph = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let blank = line.allSatisfy { $0 == " " || $0 == "\t" }
            if !blank && !inParagraph { paragraphs += 1 }
            inParagraph = !blank
        }
        #expect(paragraphs > 4 && j["prompts"]?.intValue == Int64(paragraphs))
        #expect((j["tokens"]?.intValue ?? 0) > 100)
    }

    /// `--verify-report` alone draws kld-size.png from verify reports (the text's KLD when the report has one, else
    /// the prompts'); a file that is not a verify report is an error naming it and the missing field.
    @Test func verifyReportsDrawTheSizeQualityCurve() throws {
        let dir = TemporaryDirectory()
        func report(_ name: String, _ json: String) throws -> String {
            let path = dir.file(name)
            try writeFileAtomically(path, Array(json.utf8), overwrite: true)
            return path
        }
        let q8 = try report("q8.json", #"{"schema": 1, "model": "/tmp/m-q8.bfpk", "bits_per_weight": 8.5, "mean_kld": 0.5, "text": {"kld_mean": 0.0003}}"#)
        let q4 = try report("q4.json", #"{"schema": 1, "model": "/tmp/m-q4.bfpk", "bits_per_weight": 4.5, "mean_kld": 0.02, "text": null}"#)
        let r = try runBFFN(["plot", "--verify-report", q8, "--verify-report", q4, "-o", dir.file("out"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        #expect(j["files"]?.arrayElements?.first?.stringValue == dir.file("out") + "/kld-size.png")
        #expect(j["points"]?.arrayElements?.map { $0["label"]?.stringValue ?? "" } == ["m-q4", "m-q8"])
        #expect(j["points"]?.arrayElements?.map { $0["mean_kld"]?.numberValue ?? 0 } == [0.02, 0.0003])
        #expect(try Fixtures.bytes(dir.file("out") + "/kld-size.png").prefix(4) == [137, 80, 78, 71])
        let bad = try report("bad.json", #"{"schema": 1, "passed": true}"#)
        let e = try runBFFN(["plot", "--verify-report", bad, "-o", dir.file("out2")])
        #expect(e.status != 0 && e.stderr.contains(bad) && e.stderr.contains("bits_per_weight"), "\(e.stderr)")
        #expect(try runBFFN(["plot", "-o", dir.file("out3")]).status != 0)
    }
}
