import BFFNCore
import BFFNPack
import BFFNTestSupport
import Testing

/// The default `--quant q4` recipe, `bffn calibrate` and `convert --imatrix`, run as the binary.
@Suite("quantization recipes", .serialized)
struct QuantRecipeTests {
    /// A converted pack of the bundled model and its verification on the held-out text (and the prompts, with
    /// `prompts`): the pack's path and bytes, verify's `--json` document and exit status.
    struct Measured {
        var pack: String, bytes: Int, json: JSONValue, status: Int32
    }

    /// Converts the bundled model with `--quant recipe` into `dir` and verifies the pack against it.
    static func measure(_ recipe: String, in dir: TemporaryDirectory, prompts: Bool = false) throws -> Measured {
        let model = Fixtures.trainedModel, pack = dir.file(recipe + ".bfpk")
        let c = try runBFFN(["convert", model, "-o", pack, "--quant", recipe, "-q"])
        #expect(c.status == 0, "\(recipe): \(c.stderr)")
        let v = try runBFFN(["verify", pack, "--reference", model] + (prompts ? ["--prompts", model + "/prompts.txt"] : [])
                            + ["--text", model + "/heldout.txt", "--speculative", "none", "--json"])
        return Measured(pack: pack, bytes: try MappedFile(path: pack).contents.count, json: try JSONValue.parse(v.stdout), status: v.status)
    }

    /// The default q4 recipe must pass `bffn verify` on the bundled trained model, on its prompts and on its held-out
    /// text (a recipe that fails cannot become the default), without statistics, and halve the text KLD of `q4-all`
    /// (every class q4/g32, round to nearest: what `--quant q4` stored before recipes) in no more bytes, both measured
    /// here; its manifest says why each class got its storage, and verify reports the bits per weight.
    @Test func defaultQ4PassesVerifyAndHalvesTheOldKLD() throws {
        let dir = TemporaryDirectory()
        let q4 = try Self.measure("q4", in: dir, prompts: true), j = q4.json, bytes = q4.bytes
        #expect(q4.status == 0 && j["passed"] == true, "\(j["failures"] ?? .null)")
        let kld = try #require(j["text"]?["kld_mean"]?.numberValue)
        #expect(kld < 0.05 && (j["mean_kld"]?.numberValue ?? 1) < 0.05)
        let old = try Self.measure("q4-all", in: dir, prompts: true)
        let oldKLD = try #require(old.json["text"]?["kld_mean"]?.numberValue)
        #expect(bytes <= old.bytes && kld <= oldKLD / 2, "q4: \(bytes) bytes, KLD \(kld); q4-all: \(old.bytes), \(oldKLD)")
        let bits = try #require(j["bits_per_weight"]?.numberValue), packed = try #require(j["bits_per_weight_padded"]?.numberValue)
        #expect(bits > 5.5 && bits < 7 && packed > bits)
        let q = try PackFile(path: q4.pack).manifest["quantization"]
        #expect(q?["scheme"] == "q4" && q?["scale_search"] == "weighted")
        #expect(q?["classes"]?["experts"]?["dtype"] == "Q4K" && q?["classes"]?["head"]?["dtype"] == "Q6K")
        #expect(q?["classes"]?["head"]?["rule"]?.stringValue?.hasPrefix("recipe q4: q6k alone: KLD") == true)
        #expect(q?["classes"]?["experts"]?["rule"] == "recipe q4 base")
        #expect(q?["classes"]?["router"]?["rule"] == "kept")
    }

    /// q4_k_m (experts q4k, the rest q8) passes verify with a file 1 MB smaller than the earlier q4 recipe's (experts
    /// and attention q4/g32, 15 551 671 bytes) and a lower text KLD; its manifest records the q4k experts and the rules.
    @Test func q4KMPassesVerifyWithFewerBytesThanQ4() throws {
        let dir = TemporaryDirectory()
        let m = try Self.measure("q4_k_m", in: dir), j = m.json
        #expect(m.status == 0 && j["passed"] == true, "\(j["failures"] ?? .null)")
        #expect((j["text"]?["kld_mean"]?.numberValue ?? 1) < 0.03)
        #expect(m.bytes < 15_551_671 - 1_000_000)
        let q = try PackFile(path: m.pack).manifest["quantization"]
        #expect(q?["scheme"] == "q4_k_m" && q?["classes"]?["experts"]?["dtype"] == "Q4K" && q?["classes"]?["attention"]?["dtype"] == "Q8")
        #expect(q?["classes"]?["experts"]?["rule"] == "recipe q4_k_m base")
    }

    /// q5_k_m (experts q5k, the rest q8) reaches the issue's target on the bundled model: a file no larger than q4's
    /// with a mean text KLD under 0.008 (measured 0.0069, README "Quantization").
    @Test func q5KMReachesTheTargetWithinQ4sBytes() throws {
        let dir = TemporaryDirectory()
        let m = try Self.measure("q5_k_m", in: dir), j = m.json
        #expect(m.status == 0 && j["passed"] == true && (j["text"]?["kld_mean"]?.numberValue ?? 1) < 0.008)
        #expect(m.bytes <= 15_551_671)
        #expect(try PackFile(path: m.pack).manifest["quantization"]?["classes"]?["experts"]?["dtype"] == "Q5K")
    }

    /// q6_k (experts q6k, the rest q8) is a q8-class pack in fewer bytes than q8's: it passes verify with q8's
    /// thresholds, its file is over 1.5 MB smaller, and the manifest records the q6k experts and the rules (measured:
    /// 17 156 7xx bytes against 18 991 6xx, mean text KLD 0.0026 against 0.0013; README "Quantization").
    @Test func q6KIsAQ8ClassPackInFewerBytes() throws {
        let dir = TemporaryDirectory()
        let m = try Self.measure("q6_k", in: dir), j = m.json
        #expect(m.status == 0 && j["passed"] == true, "\(j["failures"] ?? .null)")
        #expect((j["text"]?["kld_mean"]?.numberValue ?? 1) < 0.004 && (j["text"]?["same_top1"]?.numberValue ?? 0) > 0.96)
        #expect(m.bytes < 18_991_647 - 1_500_000)
        let q = try PackFile(path: m.pack).manifest["quantization"]
        #expect(q?["scheme"] == "q6_k" && q?["classes"]?["experts"]?["dtype"] == "Q6K" && q?["classes"]?["head"]?["dtype"] == "Q8")
        #expect(q?["classes"]?["experts"]?["rule"] == "recipe q6_k base")
        #expect(q?["classes"]?["attention"]?["rule"]?.stringValue?.hasPrefix("recipe q6_k: q6k alone: KLD") == true)
    }

    /// q3_k_m (experts q3k, the rest q8) is the smallest recipe: under q4_k_m's file by over 0.8 MB; its manifest records
    /// the q3k experts and the rules. Its held-out KLD (measured 0.075, 0.062 with --imatrix) is above verify's 0.05 for
    /// 4-bit-and-below packs: the experts alone at q3k cost that much (README, "Quantization").
    @Test func q3KMIsTheSmallestRecipe() throws {
        let dir = TemporaryDirectory()
        let m = try Self.measure("q3_k_m", in: dir), j = m.json
        #expect((j["text"]?["kld_mean"]?.numberValue ?? 1) < 0.09 && (j["text"]?["same_top1"]?.numberValue ?? 0) > 0.8)
        #expect(m.bytes < 14_404_171 - 800_000)
        let q = try PackFile(path: m.pack).manifest["quantization"]
        #expect(q?["scheme"] == "q3_k_m" && q?["classes"]?["experts"]?["dtype"] == "Q3K" && q?["classes"]?["embeddings"]?["dtype"] == "Q8")
        #expect(q?["classes"]?["head"]?["rule"] == "recipe q3_k_m: q3k alone: KLD 0.046")
        #expect(q?["expert_dtype"] == "Q3K")
    }

    /// calibrate writes the same file twice, reports its figures, and convert reads it; a file that is not
    /// statistics is refused naming it.
    @Test func calibrateThenConvert() throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.trainedModel, stats = dir.file("s.safetensors")
        let r = try runBFFN(["calibrate", model, "--text", model + "/prompts.txt", "-o", stats, "--context", "64", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        #expect(j["output"]?.stringValue == stats && j["expert_layers"] == 7 && j["dense_matrices"] == 43 && j["prior_tokens"] == 32)
        let tokens = try #require(j["tokens"]?.intValue)
        let layer0 = try #require(j["expert_tokens"]?.arrayElements?.first?.arrayElements)
        let perLayer = layer0.compactMap(\.intValue)
        #expect(perLayer.count == 32 && perLayer.allSatisfy { $0 <= tokens } && perLayer.reduce(0, +) > tokens)
        #expect(try runBFFN(["calibrate", model, "--text", model + "/prompts.txt", "-o", stats, "--context", "64"]).status == 1)
        #expect(try runBFFN(["calibrate", model, "--text", model + "/prompts.txt", "-o", stats, "--context", "64", "--force", "-q"]).status == 0)
        let first = try MappedFile(path: stats).contents
        #expect(try runBFFN(["calibrate", model, "--text", model + "/prompts.txt", "-o", dir.file("t.safetensors"), "--context", "64", "-q"]).status == 0)
        #expect(try MappedFile(path: dir.file("t.safetensors")).contents == first)
        let pack = dir.file("m.bfpk")
        #expect(try runBFFN(["convert", model, "-o", pack, "--quant", "q4", "--imatrix", stats, "-q"]).status == 0)
        #expect(try PackFile(path: pack).manifest["quantization"]?["calibration"]?["tokens"]?.intValue == tokens)
        let bad = try runBFFN(["convert", model, "-o", dir.file("x.bfpk"), "--quant", "q4", "--imatrix", model + "/reference.safetensors"])
        #expect(bad.status == 1 && bad.stderr.contains("reference.safetensors") && bad.stderr.contains("__metadata__.format"), "\(bad.stderr)")
        #expect(try runBFFN(["convert", model, "-o", dir.file("y.bfpk"), "--quant", "q5"]).status == 2)
    }
}
