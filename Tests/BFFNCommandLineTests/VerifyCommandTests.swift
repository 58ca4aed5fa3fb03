import BFFNCore
import BFFNTestSupport
import Testing

@Suite("bffn verify and speculative generate", .serialized)
struct VerifyCommandTests {
    @Test func passFailAndUsageExitCodes() throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.blockLinearReference
        // The exact products (what --activations auto would change on a CPU with fast bf16 products).
        let pass = try runBFFN(["verify", model, "--reference", model + "/reference.safetensors", "--json", "--activations", "int8"])
        #expect(pass.status == 0, "\(pass.stderr)")
        let j = try JSONValue.parse(pass.stdout)
        for key in ["passed", "max_abs_logit_error", "mean_kld", "max_kld", "top1_agreement", "greedy_match", "greedy_match_tokens",
                    "speculative", "sparsity", "logit_nmse_db", "top5_overlap", "router_jaccard", "first_diverging_layer"] {
            #expect(j[key] != nil, "missing \(key)")
        }
        #expect(j["passed"] == true && j["greedy_match"] == true && j["greedy_match_tokens"] == 16)
        #expect(j["speculative"]?["lossless"] == true && j["sparsity"]?["chunk_level_sparsity"]?["8"] != nil)
        // Values, against the reference file read independently and the documented guarantees (float32 logits of
        // the published code within 1e-3; the reference class's limits).
        let reference = try ReferenceIds(model + "/reference.safetensors")
        #expect(j["positions"]?.intValue == Int64(reference.input.count) && j["greedy_tokens"]?.intValue == Int64(reference.greedy.count))
        #expect((j["max_abs_logit_error"]?.numberValue ?? 1) < 1e-3)
        let meanKLD = try #require(j["mean_kld"]?.numberValue), maxKLD = try #require(j["max_kld"]?.numberValue)
        #expect(meanKLD >= 0 && meanKLD < 1e-6 && maxKLD >= meanKLD)
        #expect(j["top1_agreement"]?.numberValue == 1 && j["top5_overlap"]?.numberValue == 1 && j["router_jaccard"]?.numberValue == 1)
        #expect((j["logit_nmse_db"]?.numberValue ?? 0) < -60 && j["first_diverging_layer"] == .null)
        let spec = try #require(j["speculative"])
        let steps = try #require(spec["steps"]?.numberValue), accepted = try #require(spec["accepted_tokens"]?.numberValue)
        #expect(accepted <= (spec["drafted_tokens"]?.numberValue ?? -1))
        #expect(abs((spec["mean_accept_length"]?.numberValue ?? 0) - (accepted + steps) / steps) < 1e-9)
        let cls8 = try #require(j["sparsity"]?["chunk_level_sparsity"]?["8"]?.numberValue)
        #expect(cls8 >= 0 && cls8 <= (j["sparsity"]?["token_level_sparsity"]?.numberValue ?? -1))
        // A q8 pack against its source, with a drafter tree and a prompts file: passes; with --min-top1 1.01
        // impossible: usage error; with an impossibly small KLD limit: fails with exit 1.
        let pack = dir.file("q8.bfpk")
        #expect(try runBFFN(["convert", model, "-o", pack, "--quant", "q8"]).status == 0)
        let prompts = try dir.write("prompts.txt", text: "# two prompts\n1,2,3,4,5\n\n7, 8, 9\n")
        let q8 = try runBFFN(["verify", pack, "--reference", model, "--prompts", prompts, "--tree", "2x3", "--max-new-tokens", "10"])
        #expect(q8.status == 0 && q8.stdout.contains("PASSED") && q8.stdout.contains("quantization class q8"), "\(q8.stdout)\(q8.stderr)")
        let strict = try runBFFN(["verify", pack, "--reference", model, "--max-kld", "1e-12", "--speculative", "none", "--json"])
        #expect(strict.status == 1)
        #expect(try JSONValue.parse(strict.stdout)["passed"] == false)
        #expect(try runBFFN(["verify", pack, "--reference", model, "--min-top1", "1.01"]).status == 2)
        #expect(try runBFFN(["verify", pack, "--reference", model, "--tree", "2by3"]).status == 2)
        // --speculative is parsed once, by the argument parser, and its reason reaches the user.
        let magic = try runBFFN(["verify", pack, "--reference", model, "--speculative", "magic"])
        #expect(magic.status == 2 && magic.stderr.contains("a drafter is ngram, draft:PATH, eagle, eagle:PATH or none, not 'magic'"), "\(magic.stderr)")
        let badPrompts = try dir.write("bad.txt", text: "1,2\nx,3\n")
        let b = try runBFFN(["verify", pack, "--reference", model, "--prompts", badPrompts])
        #expect(b.status == 1 && b.stderr.contains("line 2") && b.stderr.contains("byte 4"), "\(b.stderr)")
    }

    @Test func speculativeGenerateEqualsPlainGenerate() throws {
        let model = Fixtures.blockReference
        let plain = try runBFFN(["generate", model, "--prompt-ids", "3,7,11,5,3,7,11,5,3", "--max-new-tokens", "24"])
        #expect(plain.status == 0)
        for args in [["--speculative", "ngram"], ["--speculative", "ngram", "--tree", "3x4"], ["--speculative", "draft:" + model, "--draft-tokens", "5"]] {
            let s = try runBFFN(["generate", model, "--prompt-ids", "3,7,11,5,3,7,11,5,3", "--max-new-tokens", "24"] + args)
            #expect(s.status == 0 && s.stdout == plain.stdout, "\(args): \(s.stdout) vs \(plain.stdout)")
        }
        let j = try runBFFN(["generate", model, "--prompt-ids", "1,2", "--max-new-tokens", "8", "--speculative", "ngram", "--json"])
        #expect(try JSONValue.parse(j.stdout)["speculative"]?["mean_accept_length"] != nil)
        #expect(try runBFFN(["generate", model, "--prompt-ids", "1,2", "--speculative", "ngram", "--draft-tokens", "33"]).status == 2)
    }
}

@Suite("bffn pack", .serialized)
struct DevicePackCommandTests {
    @Test func packReportsAndExitCodes() throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.blockLinearReference
        let out = dir.file("orin.bfpk")
        let r = try runBFFN(["pack", model, "-o", out, "--profile", "orin-nx-16g", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        for key in ["resident_bytes", "streamed_bytes", "per_token", "per_chunk", "calibration", "verification", "measured_here"] {
            #expect(j[key] != nil && j[key] != .null, "missing \(key)")
        }
        #expect(j["verification"]?["passed"] == true && j["per_chunk"]?["8"]?["implied_tokens_per_second"] != nil)
        // The Orin's Cortex-A78AE cores have the dot product and no i8mm: SDOT for the int8 products.
        #expect(j["kernels"]?["architecture"] == "aarch64" && j["kernels"]?["int8_products"] == "neon-dotprod" && j["kernels"]?["bf16_products"] == "neon")
        let i = try runBFFN(["inspect", out, "--check", "--json"])
        #expect(i.status == 0)
        let experts = try JSONValue.parse(i.stdout)["experts"]
        #expect(experts?["deployment_profile"] == "orin-nx-16g" && experts?["resident_count"] == 6 && experts?["streamed_bytes"] == 0)
        // Values: the report's sizes against the file and its manifest (read by inspect), its rates against the
        // profile's 102.4 GB/s and the calibration against the built-in workload (8 sequences of 64 tokens).
        var info = stat()
        #expect(stat(out, &info) == 0 && j["file_bytes"]?.intValue == Int64(info.st_size))
        let expertsOffset = try #require(experts?["offset"]?.intValue), residentExperts = try #require(experts?["resident_bytes"]?.intValue)
        #expect(j["resident_bytes"]?.intValue == expertsOffset + residentExperts && j["streamed_bytes"] == 0)
        let perToken = try #require(j["per_token"]?["bytes_per_token"]?.numberValue)
        #expect(abs((j["per_token"]?["implied_tokens_per_second"]?.numberValue ?? 0) - 102.4e9 / perToken) < 1e-6 * 102.4e9 / perToken)
        let chunk = try #require(j["per_chunk"]?["8"]?["bytes_per_chunk"]?.numberValue)
        #expect(j["per_chunk"]?["8"]?["bytes_per_token"]?.numberValue == chunk / 8 && chunk < 8 * perToken)
        let calibration = try #require(j["calibration"])
        #expect(calibration["sequences"] == 6 && calibration["held_back"] == 2 && calibration["tokens"] == 384)
        #expect(try runBFFN(["verify", out, "--reference", model]).status == 0)
        // Text report; existing output; unknown profile (usage); a budget below the dense weights (exit 1, no file).
        #expect(try runBFFN(["pack", model, "-o", out, "--profile", "cpu", "--no-bench"]).status == 1)
        let t = try runBFFN(["pack", model, "-o", out, "--profile", "cpu", "--no-bench", "--force"])
        #expect(t.status == 0 && t.stdout.contains("verified against the source") && !t.stdout.contains("kernels on the device"), "\(t.stdout)")
        #expect(try runBFFN(["pack", model, "-o", dir.file("x.bfpk"), "--profile", "toaster"]).status == 2)
        let tiny = try dir.write("tiny.json", text: "{\"name\": \"tiny\", \"bandwidth_gb_per_s\": 1, \"resident_budget_bytes\": 1000}")
        let b = try runBFFN(["pack", model, "-o", dir.file("x.bfpk"), "--profile", tiny])
        #expect(b.status == 1 && b.stderr.contains("budget"), "\(b.stderr)")
        #expect(access(dir.file("x.bfpk"), F_OK) != 0)
    }
}

@Suite("EAGLE from the command line", .serialized)
struct EagleCommandTests {
    /// A folder head, a carried head and the errors a user meets, through the binary.
    @Test func generateWithAFolderHeadAndACarriedHead() throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.trainedModel, head = Fixtures.trainedEagle
        let prompt = ["--prompt", "def main(argv):", "--max-new-tokens", "24", "--json"]
        let plain = try runBFFN(["generate", model] + prompt)
        #expect(plain.status == 0, "\(plain.stderr)")
        let plainIds = try JSONValue.parse(plain.stdout)["generated_ids"]
        let folder = try runBFFN(["generate", model, "--speculative", "eagle:" + head, "--fixed-draft"] + prompt)
        #expect(folder.status == 0, "\(folder.stderr)")
        let f = try JSONValue.parse(folder.stdout)
        #expect(f["generated_ids"] == plainIds, "speculative output equals greedy")
        #expect(f["speculative"]?["shape"]?.stringValue == "tree 10x3 (<= 31 nodes)" && f["speculative"]?["cls_spec"]?.numberValue != nil)
        #expect((f["speculative"]?["mean_accept_length"]?.numberValue ?? 0) > 1.5, "the trained head is accepted")
        // Carried in a pack with its 2048-id vocabulary; `eagle` alone uses it.
        let pack = dir.file("m.bfpk")
        let convert = try runBFFN(["convert", model, "-o", pack, "--draft", head, "--draft-vocab", "2048", "--no-tokenizer"])
        #expect(convert.status == 0, "\(convert.stderr)")
        let inspect = try runBFFN(["inspect", pack, "--json"])
        #expect(try JSONValue.parse(inspect.stdout)["draft_head"]?["draft_vocabularies"] == .array([2048]))
        let carried = try runBFFN(["generate", pack, "--prompt-ids", "1,450,2301,29", "--max-new-tokens", "16", "--speculative", "eagle", "--json"])
        let again = try runBFFN(["generate", pack, "--prompt-ids", "1,450,2301,29", "--max-new-tokens", "16", "--json"])
        #expect(carried.status == 0 && again.status == 0, "\(carried.stderr)")
        #expect(try JSONValue.parse(carried.stdout)["generated_ids"] == JSONValue.parse(again.stdout)["generated_ids"])
        // Errors: no carried head (usage, exit 2); a head of another width (exit 1, naming fc.weight); a draft
        // vocabulary without a head (usage).
        let none = try runBFFN(["generate", Fixtures.blockReference, "--prompt-ids", "1,2", "--speculative", "eagle", "--json"])
        let noneError = try JSONValue.parse(none.stdout)["error"]
        #expect(none.status == 2 && noneError?["code"]?.stringValue == "usage")
        let wide = try runBFFN(["generate", Fixtures.blockReference, "--prompt-ids", "1,2", "--speculative", "eagle:" + head, "--json"])
        let wideError = try JSONValue.parse(wide.stdout)["error"]
        #expect(wide.status == 1 && wideError?["code"]?.stringValue == "shape_mismatch" && wideError?["field"]?.stringValue == "fc.weight")
        #expect(try runBFFN(["convert", model, "-o", dir.file("x.bfpk"), "--draft-vocab", "2048"]).status == 2)
        #expect(try runBFFN(["generate", model, "--prompt", "x", "--speculative", "ngram", "--draft-vocab", "64"]).status == 2)
    }
}
