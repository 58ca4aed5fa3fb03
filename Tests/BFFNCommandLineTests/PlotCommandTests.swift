import BFFNCore
import BFFNTestSupport
import Testing

/// `bffn plot`, `verify --plots` and the shell completion script, through the binary.
@Suite("bffn plot and completion", .serialized)
struct PlotCommandTests {
    /// Width and height from a PNG's IHDR chunk (bytes 16-23, big-endian), after checking the signature.
    static func size(_ path: String) throws -> (Int, Int) {
        let b = try Fixtures.bytes(path)
        #expect(Array(b.prefix(8)) == [137, 80, 78, 71, 13, 10, 26, 10] && String(decoding: b[12..<16], as: UTF8.self) == "IHDR")
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        return (be32(16), be32(20))
    }

    @Test func plotWritesThePicturesAndReportsTheSparsity() throws {
        let dir = TemporaryDirectory()
        let prompts = try dir.write("prompts.txt", text: "# two prompts\n1,2,3,4,5,6,7,8,9,10,11,12\n5,17,42,5,17,42,5,17\n")
        let r = try runBFFN(["plot", Fixtures.blockLinearReference, "--prompts", prompts, "-o", dir.file("p"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        #expect(j["prompts"] == 2 && j["tokens"] == 20)
        let listed: [String] = (j["files"]?.arrayElements ?? []).compactMap { $0.stringValue }
        let files = listed
        #expect(files.count == 5)   // two layers' heatmaps and three summaries
        for f in files {
            let (w, h) = try Self.size(f)
            #expect(w >= 200 && h >= 80, "\(f)")
        }
        // 12 tokens x 6 experts: the heatmap grows with the prompt, the summaries do not.
        let (w12, _) = try Self.size(dir.file("p/heatmap-layer-00.png"))
        let tls = try #require(j["token_level_sparsity"]?.numberValue)
        #expect(tls > 0 && tls < 1 && j["chunk_level_sparsity"]?["1"]?.numberValue == tls)
        let long = try dir.write("long.txt", text: (1...40).map(String.init).joined(separator: ",") + "\n")
        #expect(try runBFFN(["plot", Fixtures.blockLinearReference, "--prompts", long, "-o", dir.file("q"), "-q"]).status == 0)
        #expect(try Self.size(dir.file("q/heatmap-layer-00.png")).0 > w12)
        // A dense model has no routing: a clear error.
        let dense = try runBFFN(["plot", Fixtures.path("engine/gqa-vanilla-dense-f32"), "-o", dir.file("d")])
        #expect(dense.status == 1 && dense.stderr.contains("no routing"), "\(dense.stderr)")
    }

    /// --text: the model's tokenizer.json (beside the checkpoint, or attached to a pack) encodes the file, which is
    /// cut into windows of 128 tokens, at most 8. The token count is the Python library's for the same text.
    @Test func plotTakesTextThroughTheModelsTokenizer() throws {
        let dir = TemporaryDirectory()
        let model = dir.file("m")
        #expect(try runBFFN(["synth", "--preset", "tiny", "--out", model, "-q"]).status == 0)
        let noTokenizer = try runBFFN(["plot", model, "--text", Fixtures.repositoryRoot + "/README.md", "-o", dir.file("x")])
        #expect(noTokenizer.status == 1 && noTokenizer.stderr.contains("no tokenizer.json"), "\(noTokenizer.stderr)")
        let tokenizer = Fixtures.path("tokenizers/tiny-bpe")
        _ = try dir.write("m/tokenizer.json", try Fixtures.bytes(tokenizer + "/tokenizer.json"))
        let expected = try MappedFile(path: tokenizer + "/expected.json").withBytes { try JSONValue.parse($0) }
        let sample = try #require(expected["samples"]?.arrayElements?.last)
        let text = try dir.write("text.txt", text: try #require(sample["text"]?.stringValue))
        let count = sample["ids"]?.arrayElements?.count ?? 0
        #expect(count > 1024)
        let r = try runBFFN(["plot", model, "--text", text, "-o", dir.file("t"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        #expect(j["prompts"] == 8 && j["tokens"] == 1024)
        let first = try Self.size(dir.file("t/heatmap-layer-00.png")), last = try Self.size(dir.file("t/heatmap-layer-03.png"))
        #expect(first == last && first.0 > 700)
        // The same through a pack that carries the tokenizer.
        #expect(try runBFFN(["convert", model, "-o", dir.file("m.bfpk"), "--attach", model + "/tokenizer.json", "-q"]).status == 0)
        let p = try runBFFN(["plot", dir.file("m.bfpk"), "--text", text, "-o", dir.file("pk"), "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(try JSONValue.parse(p.stdout)["tokens"] == 1024)
        #expect(try runBFFN(["plot", model, "--text", text, "--prompts", text, "-o", dir.file("z")]).status == 2)
    }

    @Test func verifyDrawsTheSamePictures() throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.blockLinearReference
        let r = try runBFFN(["verify", model, "--reference", model + "/reference.safetensors", "--speculative", "none", "--plots", dir.file("v")])
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["heatmap-layer-00.png", "heatmap-layer-01.png", "chunk-sparsity.png", "expert-frequency.png", "active-experts.png"] {
            #expect(access(dir.file("v/" + name), R_OK) == 0, "\(name)")
        }
    }

    @Test func completionScriptsListTheValues() throws {
        let bash = try runBFFN(["--generate-completion-script", "bash"])
        #expect(bash.status == 0)
        for value in ["orin-nx-16g", "q4/g32/asym", "xlarge", "safetensors"] {
            #expect(bash.stdout.contains(value), "\(value)")
        }
        #expect(try runBFFN(["--generate-completion-script", "zsh"]).stdout.contains("plot"))
    }
}
