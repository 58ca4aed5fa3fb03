import BFFNCore
import BFFNTestSupport
import Testing

/// The integers of a JSON array (empty when it is not one).
func intArray(_ v: JSONValue?) -> [Int] { (v?.arrayElements ?? []).compactMap { $0.intValue.map(Int.init) } }

/// Runs `bffn` with extra environment variables.
func runBFFN(_ args: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let dir = TemporaryDirectory()
    let out = dir.file("out"), err = dir.file("err")
    let assignments = environment.map { "\($0.key)=\($0.value)" }
    let status = ChildProcess.runShell("\(shellQuoted(["env"] + assignments + [Fixtures.bffnBinary] + args)) > '\(out)' 2> '\(err)'")
    return ((status >> 8) & 0xFF, String(decoding: try Fixtures.bytes(out), as: UTF8.self), String(decoding: try Fixtures.bytes(err), as: UTF8.self))
}

/// A tiny random model (vocabulary 512) with the 500-id tiny-bpe tokenizer beside it and a context of `context`.
func textModel(_ dir: TemporaryDirectory, context: Int = 4096, generationConfig: String? = nil) throws -> String {
    let model = dir.file("m")
    #expect(try runBFFN(["synth", "--preset", "tiny", "--out", model, "-q"]).status == 0)
    _ = try dir.write("m/tokenizer.json", try Fixtures.bytes(Fixtures.path("tokenizers/tiny-bpe/tokenizer.json")))
    _ = try dir.write("m/tokenizer_config.json", text: #"{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizer"}"#)
    if let generationConfig { _ = try dir.write("m/generation_config.json", text: generationConfig) }
    let config = String(decoding: try Fixtures.bytes(model + "/config.json"), as: UTF8.self)
    _ = try dir.write("m/config.json", text: config.replacing("\"max_position_embeddings\": 4096", with: "\"max_position_embeddings\": \(context)"))
    return model
}

@Suite("text commands", .serialized)
struct TextCommandTests {
    @Test func tokenizeAndDetokenizeMatchTheLibraries() throws {
        let text = "Hello <s> wörld 😀  tabs\tand\nnewlines"
        for name in ["hf-llama", "sp-bpe", "hf-bytelevel"] {
            let folder = Fixtures.path("text/" + name)
            let r = try runBFFN(["tokenize", folder, "-p", text, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let j = try JSONValue.parse(r.stdout)
            let ids = intArray(j["ids"])
            #expect(j["tokens"]?.arrayElements?.count == ids.count && ids.count > 5)
            let back = try runBFFN(["detokenize", folder, "--ids", ids.map(String.init).joined(separator: ","), "--json"])
            let backJSON = try JSONValue.parse(back.stdout)
            // What the Python libraries' decode gives (the LLaMA form gives the piece after <s> its own "▁").
            let expected = name == "hf-llama" ? "Hello <s>  wörld 😀  tabs\tand\nnewlines" : text
            #expect(back.status == 0 && backJSON["text"]?.stringValue == expected, "\(name): \(back.stdout)")
        }
        // The ids the Python library gives for this text (tokenizers 0.23, hf-llama).
        let plain = try runBFFN(["tokenize", Fixtures.path("text/hf-llama"), "-p", "Hello world"])
        #expect(plain.stdout.hasPrefix("2567,1053,2127,1828,429\n2567\t"), "\(plain.stdout)")
        // --add-special puts bos first (tokenizer_config.json: add_bos_token).
        let special = try runBFFN(["tokenize", Fixtures.path("text/hf-llama"), "-p", "Hello world", "--add-special"])
        #expect(special.stdout.hasPrefix("1,2567,1053,2127,1828,429\n1\t<s>\n"), "\(special.stdout)")
        // --tokenizer chooses the file; an id outside the vocabulary is an error naming it.
        let sp = try runBFFN(["tokenize", Fixtures.path("text/hf-llama"), "--tokenizer", Fixtures.path("text/sp-unigram/tokenizer.model"), "-p", "Hello", "--json"])
        let spJSON = try JSONValue.parse(sp.stdout)
        #expect(sp.status == 0 && spJSON["tokenizer"] == "tokenizer.model (SentencePiece unigram)")
        let bad = try runBFFN(["detokenize", Fixtures.path("text/sp-bpe"), "--ids", "5,3000"])
        #expect(bad.status == 1 && bad.stderr.contains("3000") && bad.stderr.contains("out_of_bounds"))
    }

    /// ORG/NAME found in a Hugging Face cache laid out as the hub writes it: refs/main, a snapshot of symlinks
    /// into blobs/; nothing found is an error that says where it looked.
    @Test func huggingFaceCacheIsFoundOffline() throws {
        let dir = TemporaryDirectory()
        let repo = dir.file("hub/models--acme--tiny")
        for folder in ["hub", "hub/models--acme--tiny", "hub/models--acme--tiny/blobs", "hub/models--acme--tiny/refs"] { mkdir(dir.file(folder), 0o755) }
        _ = try dir.write("hub/models--acme--tiny/blobs/abc123", try Fixtures.bytes(Fixtures.path("text/hf-llama/tokenizer.json")))
        _ = try dir.write("hub/models--acme--tiny/refs/main", text: "0123456789abcdef\n")
        #expect(mkdir(repo + "/snapshots", 0o755) == 0 && mkdir(repo + "/snapshots/0123456789abcdef", 0o755) == 0)
        #expect(symlink("../../blobs/abc123", repo + "/snapshots/0123456789abcdef/tokenizer.json") == 0)
        let r = try runBFFN(["tokenize", "acme/tiny", "-p", "Hello world"], environment: ["HF_HUB_CACHE": dir.file("hub")])
        #expect(r.status == 0 && r.stdout.hasPrefix("2567,1053,2127,1828,429\n"), "\(r.stderr)")
        let folder = try runBFFN(["tokenize", repo, "-p", "Hello world"])
        #expect(folder.stdout == r.stdout)
        let missing = try runBFFN(["tokenize", "acme/other", "-p", "x"], environment: ["HF_HUB_CACHE": dir.file("hub"), "HF_HOME": dir.file("home")])
        #expect(missing.status == 1 && missing.stderr.contains(dir.file("hub/models--acme--other")) && missing.stderr.contains(dir.file("home/hub/models--acme--other")),
                "\(missing.stderr)")
    }

    @Test func generatePrintsTextStopsAtEosAndAtTheContext() throws {
        let dir = TemporaryDirectory()
        let model = try textModel(dir, context: 40)
        // Text out, the same as detokenizing the ids; the same seed gives the same text.
        let r = try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "12", "--temperature", "0.9", "--seed", "5", "--json", "--ignore-eos"])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        let ids = intArray(j["generated_ids"])
        let prompt = intArray(j["prompt_ids"])
        #expect(prompt.first == 1 && ids.count == 12 && j["stop_reason"] == "max_new_tokens")
        let detok = try JSONValue.parse(try runBFFN(["detokenize", model, "--ids", ids.map(String.init).joined(separator: ","), "--json"]).stdout)
        #expect(detok["text"] == j["text"])
        let again = try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "12", "--temperature", "0.9", "--seed", "5", "--json", "--ignore-eos"])
        let againJSON = try JSONValue.parse(again.stdout)
        #expect(againJSON["generated_ids"] == j["generated_ids"])
        // --logprobs: one entry per id, the id it names, N alternatives; the same ids as without it.
        let scored = try JSONValue.parse(try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "12", "--temperature", "0.9",
                                                      "--seed", "5", "--json", "--ignore-eos", "--logprobs", "3"]).stdout)
        let entries = scored["logprobs"]?.arrayElements ?? []
        #expect(scored["generated_ids"] == j["generated_ids"] && j["logprobs"] == nil)
        #expect(entries.map { Int($0["id"]?.intValue ?? -1) } == ids && entries.allSatisfy { ($0["top"]?.arrayElements?.count ?? 0) == 3 && ($0["logprob"]?.numberValue ?? 1) <= 0 })
        #expect(try runBFFN(["generate", model, "--prompt", "x", "--logprobs", "21"]).status != 0)
        let streamed = try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "12", "--temperature", "0.9", "--seed", "5", "--ignore-eos", "-q"])
        #expect(streamed.stdout == (j["text"]?.stringValue ?? "") + "\n")
        let other = try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "12", "--temperature", "0.9", "--seed", "6", "--json", "--ignore-eos"])
        let otherJSON = try JSONValue.parse(other.stdout)
        #expect(otherJSON["generated_ids"] != j["generated_ids"])

        // Stop at an eos id of generation_config.json: make the greedy first token the eos.
        let greedy = try JSONValue.parse(try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "6", "--json", "--ignore-eos"]).stdout)
        let greedyIds = intArray(greedy["generated_ids"])
        _ = try dir.write("m/generation_config.json", text: #"{"eos_token_id": [2, \#(greedyIds[2])]}"#)
        let stopped = try JSONValue.parse(try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "6", "--json"]).stdout)
        #expect(intArray(stopped["generated_ids"]) == Array(greedyIds.prefix(upTo: greedyIds.firstIndex(of: greedyIds[2])! + 1)))
        #expect(stopped["stop_reason"] == "eos")

        // The context (max_position_embeddings 40): a longer prompt is an error; reaching it stops with a warning.
        let long = try runBFFN(["generate", model, "--prompt-ids", (0..<41).map { String($0 + 3) }.joined(separator: ","), "--max-new-tokens", "4"])
        #expect(long.status == 2 && long.stderr.contains("context of 40"), "\(long.stderr)")
        let full = try runBFFN(["generate", model, "--prompt-ids", (0..<30).map { String($0 + 3) }.joined(separator: ","), "--max-new-tokens", "100", "--ignore-eos", "--json"])
        #expect(full.status == 0 && full.stderr.contains("warning: stopped at the model's context of 40"), "\(full.stderr)")
        let fullJSON = try JSONValue.parse(full.stdout)
        #expect(fullJSON["generated_ids"]?.arrayElements?.count == 10)
        // Speculative decoding under sampling runs and stops the same way.
        let spec = try runBFFN(["generate", model, "--prompt", "def f(x):", "--max-new-tokens", "8", "--temperature", "0.7", "--speculative", "ngram", "--json", "--ignore-eos"])
        let specJSON = try JSONValue.parse(spec.stdout)
        #expect(spec.status == 0 && specJSON["generated_ids"]?.arrayElements?.count == 8, "\(spec.stderr)")
    }

    @Test func convertCarriesTheTokenizerAndVerifyMeasuresPerplexity() throws {
        let dir = TemporaryDirectory()
        let model = try textModel(dir, context: 64, generationConfig: #"{"eos_token_id": 2}"#)
        let c = try runBFFN(["convert", model, "-o", dir.file("m.bfpk"), "--json"])
        #expect(c.status == 0, "\(c.stderr)")
        let cJSON = try JSONValue.parse(c.stdout)
        #expect(cJSON["carried_files"] == .array(["tokenizer.json", "tokenizer_config.json", "generation_config.json"]))
        let inspect = try JSONValue.parse(try runBFFN(["inspect", dir.file("m.bfpk"), "--json"]).stdout)
        #expect(inspect["tokenizer"]?["vocabulary_size"] == 500 && inspect["tokenizer"]?["bos"]?["id"] == 1)
        #expect(inspect["tokenizer"]?["eos"] == .array([.object([("id", 2), ("token", "</s>")])]))
        #expect(inspect["tokenizer"]?["warning"]?.stringValue?.contains("512 embedding rows") == true)
        let bare = try runBFFN(["convert", model, "-o", dir.file("bare.bfpk"), "--no-tokenizer", "--json"])
        let bareJSON = try JSONValue.parse(bare.stdout)
        #expect(bareJSON["carried_files"] == .array([]))
        let noTokenizer = try runBFFN(["generate", dir.file("bare.bfpk"), "--prompt", "x"])
        #expect(noTokenizer.status == 1 && noTokenizer.stderr.contains("no tokenizer.json or tokenizer.model in the pack"))

        // A lossless pack against its source on a text: identical distributions, so every KL figure is 0.
        let text = try dir.write("text.txt", text: String(repeating: "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 1\n", count: 12))
        // The exact products: --activations auto takes bf16 products for bf16 weights where the CPU has them.
        let v = try runBFFN(["verify", dir.file("m.bfpk"), "--reference", model, "--text", text, "--speculative", "none", "--json", "--context", "32",
                             "--activations", "int8"])
        #expect(v.status == 0, "\(v.stderr)")
        let vJSON = try JSONValue.parse(v.stdout)
        let t = try #require(vJSON["text"])
        #expect(t["context"] == 32 && (t["windows"]?.intValue ?? 0) >= 5 && t["scored_tokens"]?.intValue == (t["windows"]?.intValue ?? 0) * 15)
        #expect(t["kld_mean"] == 0.0 && t["kld_max"] == 0.0 && t["same_top1"] == 1.0 && t["perplexity_ratio"] == 1.0)
        #expect((t["perplexity"]?.numberValue ?? 0) > 1)
        // A q4 pack: figures ordered and plausible; text prompts are accepted in place of id lists.
        #expect(try runBFFN(["convert", model, "-o", dir.file("q4.bfpk"), "--quant", "q4", "-q"]).status == 0)
        let q = try runBFFN(["verify", dir.file("q4.bfpk"), "--reference", model, "--text", text, "--prompts", text, "--speculative", "none", "--json",
                             "--context", "32", "--max-kld", "1", "--min-top1", "0"])
        let qJSON = try JSONValue.parse(q.stdout)
        let qt = try #require(qJSON["text"])
        let mean = qt["kld_mean"]?.numberValue ?? -1, median = qt["kld_median"]?.numberValue ?? -1
        let p99 = qt["kld_p99"]?.numberValue ?? -1, p999 = qt["kld_p99_9"]?.numberValue ?? -1, top = qt["kld_max"]?.numberValue ?? -1
        #expect(mean > 0 && median > 0 && median <= p99 && p99 <= p999 && p999 <= top && mean <= top, "\(qt)")
        // Paragraphs are prompts: the blank line inside the repeated text makes 13 of them.
        #expect(qJSON["prompts"] == 13)
    }
}

@Suite("text where ids were taken", .serialized)
struct TextInputTests {
    /// pack --calibration and bench --workload take plain text: paragraphs become sequences through the tokenizer.
    @Test func calibrationAndWorkloadTakeText() throws {
        let dir = TemporaryDirectory()
        let model = try textModel(dir)
        let text = try dir.write("calib.txt", text: "def f(x):\n    return x\n\nclass A:\n    pass\n\nimport os\nprint(os.getcwd())\n")
        let p = try runBFFN(["pack", model, "-o", dir.file("p.bfpk"), "--profile", "cpu", "--calibration", text, "--no-bench", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let pj = try JSONValue.parse(p.stdout)
        // Three paragraphs: two calibrate, one is held back to check the calibration.
        let calibration = (pj["calibration"]?["sequences"]?.intValue ?? 0) + (pj["calibration"]?["held_back"]?.intValue ?? 0)
        #expect(calibration == 3)
        let b = try runBFFN(["bench", model, "--workload", text, "--tokens", "2", "--json"])
        #expect(b.status == 0, "\(b.stderr)")
        // The first paragraph with bos: the prefill runs exactly its tokens.
        let ids = try JSONValue.parse(try runBFFN(["tokenize", model, "-p", "def f(x):\n    return x", "--add-special", "--json"]).stdout)
        let bj = try JSONValue.parse(b.stdout)
        #expect(bj["prefill_tokens"]?.intValue == Int64(intArray(ids["ids"]).count))
    }
}
