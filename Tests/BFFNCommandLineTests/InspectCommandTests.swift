import BFFNCheckpoint
import BFFNCore
import BFFNTestSupport
import Testing

/// `words` as one shell command line, each word single-quoted.
func shellQuoted(_ words: [String]) -> String {
    words.map { "'" + $0.replacing("'", with: "'\\''") + "'" }.joined(separator: " ")
}

/// Runs the built `bffn` binary and captures stdout, stderr and the exit status.
func runBFFN(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = Fixtures.bffnBinary
    let dir = TemporaryDirectory()
    let out = dir.file("out"), err = dir.file("err")
    let quoted = shellQuoted([binary] + args)
    let status = ChildProcess.runShell("\(quoted) > '\(out)' 2> '\(err)'")
    let code = (status >> 8) & 0xFF
    return (code, String(decoding: try Fixtures.bytes(out), as: UTF8.self), String(decoding: try Fixtures.bytes(err), as: UTF8.self))
}

@Suite("bffn inspect", .serialized)
struct InspectCommandTests {
    @Test func jsonReportHasTheDocumentedKeys() throws {
        let r = try runBFFN(["inspect", Fixtures.blockLinearReference, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        #expect(j["format"] == "pytorch")
        #expect(j["files"]?.arrayElements?.count == 1)
        #expect(j["parameters"] == .int(51372))
        let m = try #require(j["model"])
        #expect(m["attention"] == "mla" && m["ffn_layout"] == "block_linear" && m["router_norm"] == "rms")
        #expect(m["hidden_size"] == 64 && m["num_layers"] == 2 && m["num_experts"] == 6 && m["expert_size"] == 8)
        #expect(m["vocab_size"] == 96 && m["num_attention_heads"] == 4 && m["tied_embeddings"] == false)
        let tensors = try #require(j["tensors"]?.arrayElements)
        #expect(tensors.count == 29)
        #expect(tensors[0] == .object([("name", "model.embed_tokens.weight"), ("dtype", "BF16"), ("shape", [96, 64]),
                                       ("bytes", 12288), ("contiguous", true)]))
        #expect(j["warnings"] == .array([]))
    }

    @Test func humanSummaryAndTensorTable() throws {
        let r = try runBFFN(["inspect", Fixtures.blockReference, "--tensors"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("attention mla, FFN block, router norm rms"))
        #expect(r.stdout.contains("experts     8 x 16 per layer"))
        #expect(r.stdout.contains("model.layers.2.mlp.down_proj"))
    }

    @Test func malformedInputExitsOneAndNamesTheProblem() throws {
        let dir = TemporaryDirectory()
        var bytes: [UInt8] = []
        bytes.appendLE(UInt64(1 << 20))
        bytes += Array("{}".utf8)
        let path = try dir.write("bad.safetensors", bytes)
        let r = try runBFFN(["inspect", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.safetensors") && r.stderr.contains("byte 0") && r.stderr.contains("[truncated]"), "\(r.stderr)")
        let j = try runBFFN(["inspect", path, "--json"])
        #expect(j.status == 1)
        #expect(try JSONValue.parse(j.stdout)["error"]?["code"] == "truncated")
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try runBFFN(["inspect"]).status == 2)
        #expect(try runBFFN(["inspect", "x", "--no-such-flag"]).status == 2)
        let help = try runBFFN(["inspect", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--tensors"))
    }
}

@Suite("bffn generate", .serialized)
struct GenerateCommandTests {
    @Test func greedyIdsMatchThePublishedModel() throws {
        let f = try ReferenceIds(Fixtures.blockLinearReference + "/reference.safetensors")
        let prompt = f.input.map(String.init).joined(separator: ",")
        #expect(f.input.count == 24 && f.greedy.count == 16)
        let r = try runBFFN(["generate", Fixtures.blockLinearReference, "--prompt-ids", prompt, "--max-new-tokens", "16", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        let generated = j["generated_ids"]?.arrayElements?.compactMap { $0.intValue.map(Int.init) }
        #expect(generated == f.greedy)
        #expect((j["experts_read_fraction"]?.numberValue ?? 0) > 0 && (j["experts_read_fraction"]?.numberValue ?? 1) < 1)
        #expect(j["decode_tokens_per_second"]?.numberValue != nil && j["schema"] == 1)
    }

    @Test func badTokenIds() throws {
        #expect(try runBFFN(["generate", Fixtures.blockLinearReference, "--prompt-ids", "1,x"]).status == 2)
        let r = try runBFFN(["generate", Fixtures.blockLinearReference, "--prompt-ids", "1,9999"])
        #expect(r.status == 1 && r.stderr.contains("9999"), "\(r.stderr)")
    }
}

/// input_ids and greedy_ids read from a reference file with the JSON header parser (no engine involved).
struct ReferenceIds {
    var input: [Int] = []
    var greedy: [Int] = []
    init(_ path: String) throws {
        let bytes = try Fixtures.bytes(path)
        let n = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try bytes.withUnsafeBytes { try JSONValue.parse(UnsafeRawBufferPointer(rebasing: $0[8..<(8 + n)])) }
        func ints(_ name: String) -> [Int] {
            guard let o = header[name]?["data_offsets"]?.arrayElements, let b = o[0].intValue, let e = o[1].intValue else { return [] }
            return stride(from: 8 + n + Int(b), to: 8 + n + Int(e), by: 8).map { i in
                Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: Int64.self) })
            }
        }
        input = ints("input_ids")
        greedy = ints("greedy_ids")
    }
}

@Suite("bffn synth and bench", .serialized)
struct SynthBenchCommandTests {
    @Test func synthThenBenchReportTheDocumentedKeys() throws {
        let dir = TemporaryDirectory()
        let s = try runBFFN(["synth", "--preset", "tiny", "--out", dir.file("m"), "--format", "bin", "--json"])
        #expect(s.status == 0, "\(s.stderr)")
        let doc = try JSONValue.parse(s.stdout)
        let tls = try #require(doc["measured"]?["token_level_sparsity"]?.numberValue)
        #expect(abs(tls - 0.8) < 0.05)
        #expect(try runBFFN(["synth", "--preset", "tiny", "--out", dir.file("m")]).status == 1) // exists, no --force
        let huge = try runBFFN(["synth", "--preset", "huge", "--out", dir.file("x")])
        #expect(huge.status == 2 && huge.stderr.contains("- tiny") && huge.stderr.contains("- 3b"), "\(huge.stderr)")
        let b = try runBFFN(["bench", dir.file("m"), "--threads", "1,2", "--tokens", "4", "--json"])
        #expect(b.status == 0, "\(b.stderr)")
        let j = try JSONValue.parse(b.stdout)
        for key in ["prefill_tokens_per_second", "decode_tokens_per_second", "weight_bytes_per_token", "effective_gb_per_s",
                    "read_bandwidth_gb_per_s", "bandwidth_ratio", "dense_ffn_ms_per_token", "sparse_ffn_ms_per_token",
                    "active_expert_fraction", "peak_rss_bytes", "weight_bytes", "kv_cache_bytes", "memory_limit_bytes",
                    "prefill_gflops_per_thread", "prompt_tokens_per_second", "prompt_gflops_per_thread"] {
            #expect(j[key]?.numberValue != nil, "\(key)")
        }
        // The memory budget is the model file's weights + 10 % + the KV cache.
        let weights = try #require(j["weight_bytes"]?.intValue), kv = try #require(j["kv_cache_bytes"]?.intValue)
        #expect(weights > 0 && kv > 0 && j["memory_limit_bytes"]?.intValue == weights + weights / 10 + kv)
        #expect(j["runs"]?.arrayElements?.count == 2)
        #expect(j["runs"]?.arrayElements?.first?["threads"] == 1 && j["runs"]?.arrayElements?.last?["threads"] == 2 && j["decode_tokens"] == 4)
        // Values: the weight bytes equal the checkpoint's tensor bytes (inspect's table), and the derived figures
        // follow from the measured ones as documented.
        let table = try JSONValue.parse(try runBFFN(["inspect", dir.file("m"), "--json"]).stdout)["tensors"]?.arrayElements ?? []
        #expect(Int64(weights) == table.reduce(Int64(0)) { $0 + ($1["bytes"]?.intValue ?? 0) })
        let perToken = try #require(j["weight_bytes_per_token"]?.numberValue), tps = try #require(j["decode_tokens_per_second"]?.numberValue)
        let effective = try #require(j["effective_gb_per_s"]?.numberValue), read = try #require(j["read_bandwidth_gb_per_s"]?.numberValue)
        #expect(abs(effective - perToken * tps / 1e9) <= 1e-9 * effective)
        #expect(abs((j["bandwidth_ratio"]?.numberValue ?? 0) - effective / read) <= 1e-9 * effective / read)
        #expect(perToken > 0 && Double(weights) > perToken)
        let fraction = try #require(j["active_expert_fraction"]?.numberValue)
        #expect(fraction > 0 && fraction < 0.5)
        // KV cache read per decode step: every visible slot's keys and values in every layer (the tiny preset is
        // MLA with a 16-element own key part, so each head's key is cached whole), averaged over the steps.
        let config = try JSONValue.parse(String(decoding: Fixtures.bytes(dir.file("m") + "/config.json"), as: UTF8.self))
        func c(_ k: String) -> Double { config[k]?.numberValue ?? 0 }
        let slotBytes = c("num_hidden_layers") * c("num_attention_heads") * (c("qk_nope_head_dim") + c("qk_rope_head_dim") + c("v_head_dim")) * 4
        let prefillTokens = try #require(j["prefill_tokens"]?.numberValue)
        #expect(c("qk_nope_head_dim") == 16 && j["kv_bytes_read_per_token"]?.numberValue == slotBytes * (prefillTokens + (4 + 1) / 2.0))
        // A model file (not its folder) with --workload prefills that workload's first prompt.
        let workload = dir.file("m") + "/workload.txt"
        let firstLine = try String(decoding: Fixtures.bytes(workload), as: UTF8.self).split(separator: "\n")[0]
        let w = try runBFFN(["bench", dir.file("m") + "/pytorch_model.bin", "--workload", workload, "--tokens", "2", "--json"])
        #expect(w.status == 0, "\(w.stderr)")
        #expect(try JSONValue.parse(w.stdout)["prefill_tokens"]?.intValue == Int64(firstLine.split(separator: ",").count))
        let bad = try dir.write("bad-workload.txt", Array("3,4,99999999,5\n".utf8))
        let e = try runBFFN(["bench", dir.file("m"), "--workload", bad, "--tokens", "2"])
        #expect(e.status == 1 && e.stderr.contains("bad-workload.txt") && e.stderr.contains("byte 4"), "\(e.stderr)")
    }
}

@Suite("bffn convert, inspect and export of packs", .serialized)
struct PackCommandTests {
    @Test func convertInspectCheckExport() throws {
        let dir = TemporaryDirectory()
        let pack = dir.file("m.bfpk")
        let c = try runBFFN(["convert", Fixtures.blockLinearReference, "-o", pack, "--quant", "q8", "--json"])
        #expect(c.status == 0, "\(c.stderr)")
        let report = try JSONValue.parse(c.stdout)
        #expect(report["classes"]?["experts"]?["dtype"] == "Q8")
        #expect((report["classes"]?["experts"]?["error"]?["snr_db"]?.numberValue ?? 0) > 30)
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", pack]).status == 1)      // exists
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", pack, "--quant", "q3"]).status == 2)
        let i = try runBFFN(["inspect", pack, "--json", "--check"])
        #expect(i.status == 0, "\(i.stderr)")
        let j = try JSONValue.parse(i.stdout)
        #expect(j["format"] == "bfpk" && j["model"]?["ffn_layout"] == "block_linear" && j["check"]?["passed"] == true)
        #expect(j["experts"]?["alignment"] == 4096 && j["experts"]?["order"]?.arrayElements?.count == 2)
        #expect(j["quantization"]?["scheme"] == "q8")   // the recipe `--quant q8` names
        // A flipped byte inside an expert block: --check exits 1 and names layer and expert.
        var bytes = try Fixtures.bytes(pack)
        let offset = Int(try #require(j["experts"]?["offset"]?.intValue)) + 10
        bytes[offset] ^= 0x40
        let bad = try dir.write("bad.bfpk", bytes)
        let b = try runBFFN(["inspect", bad, "--check"])
        #expect(b.status == 1 && b.stderr.contains("layer 0 expert 0") && b.stderr.contains("byte \(offset - 10)"), "\(b.stderr)")
        // Scheme spellings are case-insensitive; --override sets one class (--keep is its old spelling).
        for flag in ["--override", "--keep"] {
            let o = try runBFFN(["convert", Fixtures.blockLinearReference, "-o", dir.file("o.bfpk"), "--quant", "Q8", flag, "attention=Q4/G8/SYM",
                                 "--force", "--json"])
            #expect(o.status == 0, "\(o.stderr)")
            let classes = try JSONValue.parse(o.stdout)["classes"]
            #expect(classes?["attention"]?["dtype"] == "Q4" && classes?["experts"]?["dtype"] == "Q8" && classes?["router"]?["dtype"] == "BF16")
        }
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", dir.file("r.bfpk"), "--override", "router=q8"]).status == 2)
        let e = try runBFFN(["export", pack, "-o", dir.file("out")])
        #expect(e.status == 0, "\(e.stderr)")
        let x = try runBFFN(["inspect", dir.file("out"), "--json"])
        #expect(try JSONValue.parse(x.stdout)["model"]?["num_experts"] == 6)
        // --dtype: a q8 pack written back as bf16 (every tensor), half the bytes of the F32 default; the source's
        // bf16 tensors that q8 never touched (router, norms) come back byte for byte.
        let bf = try runBFFN(["export", pack, "-o", dir.file("bf16"), "--dtype", "BF16", "--json"])
        #expect(bf.status == 0, "\(bf.stderr)")
        #expect(try JSONValue.parse(bf.stdout)["dtype"] == "bf16")
        let exported = try JSONValue.parse(try runBFFN(["inspect", dir.file("bf16"), "--json"]).stdout)
        let f32 = try JSONValue.parse(try runBFFN(["inspect", dir.file("out"), "--json"]).stdout)
        #expect(exported["bytes_per_dtype"]?.objectMembers?.map(\.key) == ["BF16"])
        #expect((exported["bytes_per_dtype"]?["BF16"]?.intValue ?? 0) * 2 == (f32["bytes_per_dtype"]?["F32"]?.intValue ?? 0)
                + 2 * (f32["bytes_per_dtype"]?["BF16"]?.intValue ?? -1))
        let source = try Checkpoint(path: Fixtures.blockLinearReference), back = try Checkpoint(path: dir.file("bf16"))
        for name in ["model.layers.1.mlp.router_norm.weight", "model.norm.weight"] {
            let a = try source.bytes(of: source.tensor(named: name)!).contents, b = try back.bytes(of: back.tensor(named: name)!).contents
            #expect(a == b, "\(name)")
        }
        #expect(try runBFFN(["export", pack, "-o", dir.file("x"), "--dtype", "q8"]).status == 2)
    }
}
