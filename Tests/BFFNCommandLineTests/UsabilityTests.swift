import BFFNCore
import BFFNTestSupport
import Testing

/// Runs bffn with `input` on standard input.
func runBFFN(_ args: [String], input: String) throws -> (status: Int32, stdout: String, stderr: String) {
    let dir = TemporaryDirectory()
    let stdin = try dir.write("in", text: input)
    let out = dir.file("out"), err = dir.file("err")
    let status = ChildProcess.runShell("\(shellQuoted([Fixtures.bffnBinary] + args)) < '\(stdin)' > '\(out)' 2> '\(err)'")
    return ((status >> 8) & 0xFF, String(decoding: try Fixtures.bytes(out), as: UTF8.self), String(decoding: try Fixtures.bytes(err), as: UTF8.self))
}

/// Whitespace runs as one space (help text wraps at the terminal's width).
private func collapsed(_ s: String) -> String { s.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ") }

/// The rough edges a new user hits first: fixed-choice flags, --threads everywhere, tokenize and detokenize.
@Suite("usability", .serialized)
struct UsabilityTests {
    /// A flag with a fixed set of values is refused by the argument parser (exit 2) with the valid values named,
    /// and --help lists them.
    @Test func fixedChoiceFlagsNameTheirValues() throws {
        let cases: [([String], [String])] = [
            (["generate", Fixtures.trainedModel, "--prompt", "x", "--ffn", "medium"], ["'sparse'", "'dense'"]),
            (["generate", Fixtures.trainedModel, "--prompt", "x", "--activations", "int4"], ["'float'", "'int8'", "'bf16'"]),
            (["bench", Fixtures.trainedModel, "--kv-cache", "f16"], ["'f32'", "'bf16'"]),
            (["export", "x.bfpk", "-o", "/nonexistent", "--layout", "columns"], ["'block_linear'", "'block'"]),
            (["synth", "--preset", "tiny", "--out", "/nonexistent", "--format", "zip"], ["'safetensors'", "'bin'"]),
            (["synth", "--preset", "tiny", "--out", "/nonexistent", "--dtype", "f8"], ["'f32'", "'f16'", "'bf16'"]),
            (["pack", Fixtures.trainedModel, "-o", "/nonexistent/x.bfpk", "--profile", "watch"], ["'orin-nx-16g'", "'phone-8g'", "'cpu'"]),
        ]
        for (args, values) in cases {
            let r = try runBFFN(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            for v in values { #expect(r.stderr.contains(v), "\(args): \(r.stderr)") }
        }
        let help = collapsed(try runBFFN(["generate", "--help"]).stdout)
        #expect(help.contains("(values: sparse, dense; default: sparse)"), "\(help)")
        #expect(help.contains("float, int8, bf16; default:"), "\(help)")
        let pack = collapsed(try runBFFN(["pack", "--help"]).stdout)
        #expect(pack.contains("(values: orin-nx-16g, phone-8g, cpu)"))
        // Spellings stay case-insensitive where they were, and a profile file still goes through.
        let export = try runBFFN(["export", "/nonexistent.bfpk", "-o", "/nonexistent", "--dtype", "BF16"])
        #expect(export.status == 1, "\(export.stderr)")
        let file = try runBFFN(["pack", Fixtures.trainedModel, "-o", "/nonexistent/x.bfpk", "--profile", "/nonexistent/p.json"])
        #expect(file.status == 1 && file.stderr.contains("/nonexistent/p.json"), "\(file.stderr)")
    }

    /// Every command takes -t/--threads (kernels too), and its help gives the default once, in words.
    /// generate says how activations met the weights, in its summary line and its JSON: with the default auto,
    /// "auto -> " and what it chose (the same words as bench), and the path asked for otherwise.
    @Test func generateNamesTheActivationsThatRan() throws {
        let auto = try runBFFN(["generate", Fixtures.trainedModel, "--prompt-ids", "1,2,3", "-n", "2", "--json"])
        let label = try JSONValue.parse(auto.stdout)["activations"]?.stringValue
        #expect(auto.status == 0 && label?.hasPrefix("auto -> ") == true, "\(auto.stdout)\(auto.stderr)")
        let float = try runBFFN(["generate", Fixtures.trainedModel, "--prompt-ids", "1,2,3", "-n", "2", "--activations", "float"])
        #expect(float.status == 0 && float.stderr.contains("; activations float32\n"), "\(float.stderr)")
        let bench = try runBFFN(["bench", Fixtures.trainedModel, "--tokens", "2", "-t", "1"])
        #expect(bench.status == 0 && label.map { bench.stdout.contains("activations: \($0);") } == true, "\(bench.stdout)")
    }

    @Test func everyCommandTakesThreads() throws {
        let kernels = try runBFFN(["kernels", "--threads", "1"])
        #expect(kernels.status == 0 && kernels.stdout.contains("int8 products"), "\(kernels.stderr)")
        #expect(try runBFFN(["kernels", "-t", "2", "--json"]).status == 0)
        let tokenize = try runBFFN(["tokenize", Fixtures.path("text/hf-llama"), "-p", "Hello world", "-t", "1"])
        #expect(tokenize.status == 0 && tokenize.stdout.hasPrefix("2567,1053,2127,1828,429\n"), "\(tokenize.stderr)")
        for command in ["inspect", "convert", "export", "generate", "verify", "pack", "synth", "plot", "tokenize", "detokenize", "trace", "kernels"] {
            let help = collapsed(try runBFFN([command, "--help"]).stdout)
            #expect(help.contains("-t, --threads <n>"), "\(command)")
            #expect(help.contains("Results never depend on it.") && !help.contains("depend on it. (default:"), "\(command): \(help)")
        }
        #expect(try runBFFN(["inspect", Fixtures.trainedModel, "--threads", "0"]).status == 2)
        // bench measures a list of thread counts: -t takes the list.
        let bench = collapsed(try runBFFN(["bench", "--help"]).stdout)
        #expect(bench.contains("-t, --threads <threads> Thread counts to measure"), "\(bench)")
        let run = try runBFFN(["bench", Fixtures.blockLinearReference, "-t", "1", "--tokens", "2", "--json", "-q"])
        let runs = try JSONValue.parse(run.stdout)["runs"]?.arrayElements?.count
        #expect(run.status == 0 && runs == 1, "\(run.stderr)")
    }

    /// The same input options mean the same in every command: -f/--prompt-file (- for standard input) in generate
    /// as in tokenize, --prompt-ids in plot and trace as in verify.
    @Test func inputOptionsAreSharedAcrossCommands() throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.trainedModel
        let file = try dir.write("p.txt", text: "def add(a, b):")
        let byText = try runBFFN(["generate", model, "-p", "def add(a, b):", "-n", "4", "--json"])
        let byFile = try runBFFN(["generate", model, "-f", file, "-n", "4", "--json"])
        let byStdin = try runBFFN(["generate", model, "--prompt-file", "-", "-n", "4", "--json"], input: "def add(a, b):")
        let generated = try [byText, byFile, byStdin].map { try JSONValue.parse($0.stdout)["generated_ids"] }
        let prompts = try [byText, byFile, byStdin].map { try JSONValue.parse($0.stdout)["prompt_ids"] }
        #expect(generated[0]?.arrayElements?.count == 4 && generated.allSatisfy { $0 == generated[0] } && prompts.allSatisfy { $0 == prompts[0] }, "\(byFile.stderr)\(byStdin.stderr)")
        let plot = try runBFFN(["plot", model, "--prompt-ids", "5,17,42,9", "-o", dir.file("plots"), "--json"])
        #expect(try plot.status == 0 && JSONValue.parse(plot.stdout)["prompts"]?.intValue == 1, "\(plot.stderr)")
        let trace = try runBFFN(["trace", model, "--prompt-ids", "5,17,42,9", "-o", dir.file("t.safetensors"), "--json"])
        #expect(try trace.status == 0 && JSONValue.parse(trace.stdout)["tokens"]?.intValue == 4, "\(trace.stderr)")
        #expect(try runBFFN(["trace", model, "--prompt-ids", "5,x", "-o", dir.file("u.safetensors")]).status == 2)
        #expect(try runBFFN(["verify", model, "--reference", model, "--prompt-ids", "1", "--prompts", file]).status == 2)
    }

    /// tokenize: standard input with --file -, and each token's piece beside its id.
    @Test func tokenizeReadsStandardInputAndShowsPieces() throws {
        let folder = Fixtures.path("text/hf-llama")
        let r = try runBFFN(["tokenize", folder, "-p", "Hello world"])
        #expect(r.status == 0)
        #expect(r.stdout == "2567,1053,2127,1828,429\n2567\t▁\n1053\tHe\n2127\tllo\n1828\t▁wor\n429\tld\n", "\(r.stdout)")
        let stdin = try runBFFN(["tokenize", folder, "--prompt-file", "-"], input: "Hello world")
        #expect(stdin.status == 0 && stdin.stdout == r.stdout, "\(stdin.stderr)")
        // The earlier spellings --text and --file still work; --prompt-ids shows the pieces of given ids.
        #expect(try runBFFN(["tokenize", folder, "--text", "Hello world"]).stdout == r.stdout)
        #expect(try runBFFN(["tokenize", folder, "--file", "-"], input: "Hello world").stdout == r.stdout)
        #expect(try runBFFN(["tokenize", folder, "--prompt-ids", "2567,1053,2127,1828,429"]).stdout == r.stdout)
        #expect(try runBFFN(["tokenize", folder, "-p", "x", "--text", "y"]).status == 2)
        // A newline piece is shown escaped, so every token stays on its own line.
        let newline = try runBFFN(["tokenize", folder, "--prompt-file", "-", "--json"], input: "Hi\n")
        let j = try JSONValue.parse(newline.stdout)
        #expect(j["tokens"]?.arrayElements?.last == "<0x0A>")
        let tab = try runBFFN(["tokenize", Fixtures.path("text/hf-bytelevel"), "-p", "a\tb"])
        #expect(!tab.stdout.split(separator: "\n").dropFirst().contains { $0.split(separator: "\t", omittingEmptySubsequences: false).count != 2 }, "\(tab.stdout)")
    }

    /// detokenize: no ids give the empty text; --skip-special-tokens leaves out bos and eos.
    @Test func detokenizeEmptyIdsAndSkipSpecialTokens() throws {
        let folder = Fixtures.path("text/hf-llama")
        let empty = try runBFFN(["detokenize", folder, "--ids", ""])
        #expect(empty.status == 0 && empty.stdout == "\n", "\(empty.stderr)")
        let emptyJSON = try runBFFN(["detokenize", folder, "--ids", "", "--json"])
        #expect(try JSONValue.parse(emptyJSON.stdout)["text"] == "")
        let all = try JSONValue.parse(try runBFFN(["detokenize", folder, "--ids", "1,2567,1053,2127,2", "--json"]).stdout)
        #expect(all["text"] == "<s> Hello</s>", "\(all)")
        let skipped = try JSONValue.parse(try runBFFN(["detokenize", folder, "--ids", "1,2567,1053,2127,2", "--skip-special-tokens", "--json"]).stdout)
        let plain = try JSONValue.parse(try runBFFN(["detokenize", folder, "--ids", "2567,1053,2127", "--json"]).stdout)
        #expect(skipped["text"] == plain["text"] && plain["text"] == "Hello", "\(skipped) \(plain)")
        #expect(try runBFFN(["detokenize", folder, "--ids", "1,x"]).status == 2)
    }

    /// Text streamed by generate ends with a newline when --max-new-tokens stops it.
    @Test func streamedTextEndsWithANewline() throws {
        let r = try runBFFN(["generate", Fixtures.trainedModel, "--prompt", "The list type", "--max-new-tokens", "5", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("\n") && r.stdout.count > 1 && !r.stdout.dropLast().contains("\n"), "\(r.stdout)")
    }

    /// inspect shows the context length, the rope settings and whether a chat template is present.
    @Test func inspectShowsContextRopeAndChatTemplate() throws {
        let plain = try runBFFN(["inspect", Fixtures.trainedModel, "--json"])
        let j = try JSONValue.parse(plain.stdout)
        #expect(j["context"] == .object([("max_position_embeddings", 512), ("rope_theta", 10000.0), ("rope_scaling", .null)]), "\(plain.stdout)")
        #expect(j["chat_template"] == .null)
        let text = try runBFFN(["inspect", Fixtures.trainedModel]).stdout
        #expect(text.contains("context     512 positions (max_position_embeddings), rope theta 10000, no rope scaling"), "\(text)")
        #expect(text.contains("chat        no chat template"))

        // A copy whose config scales rope and whose tokenizer_config.json has a chat template.
        let dir = TemporaryDirectory()
        #expect(mkdir(dir.file("m"), 0o755) == 0)
        for name in ["model.safetensors", "tokenizer.json", "special_tokens_map.json"] {
            _ = try dir.write("m/" + name, try Fixtures.bytes(Fixtures.trainedModel + "/" + name))
        }
        guard case .object(let members) = try JSONValue.parse(String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/config.json"), as: UTF8.self)) else {
            Issue.record("config.json is not an object")
            return
        }
        let changed: [String: JSONValue] = ["max_position_embeddings": 2048, "rope_theta": .double(500000),
                                            "rope_scaling": .object([("type", "linear"), ("factor", .double(4))])]
        let config = JSONValue.object(members.filter { changed[$0.key] == nil } + changed.sorted { $0.key < $1.key }.map { JSONMember($0.key, $0.value) })
        _ = try dir.write("m/config.json", text: config.serialized(pretty: true))
        _ = try dir.write("m/tokenizer_config.json", text: #"{"add_bos_token": true, "bos_token": "<s>", "chat_template": "{{ messages }}"}"#)
        let scaled = try JSONValue.parse(try runBFFN(["inspect", dir.file("m"), "--json"]).stdout)
        #expect(scaled["context"] == .object([("max_position_embeddings", 2048), ("rope_theta", .double(500000)), ("rope_scaling", .object([("type", "linear"), ("factor", .double(4))]))]),
                "\(scaled)")
        #expect(scaled["chat_template"] == "tokenizer_config.json")
        let scaledText = try runBFFN(["inspect", dir.file("m")]).stdout
        #expect(scaledText.contains("context     2,048 positions (max_position_embeddings), rope theta 500000, rope scaling linear x4") &&
                scaledText.contains("chat        template in tokenizer_config.json"), "\(scaledText)")
        // chat_template.jinja beside the model counts too.
        _ = try dir.write("m/tokenizer_config.json", text: #"{"add_bos_token": true, "bos_token": "<s>"}"#)
        _ = try dir.write("m/chat_template.jinja", text: "{{ messages }}")
        #expect(try JSONValue.parse(try runBFFN(["inspect", dir.file("m"), "--json"]).stdout)["chat_template"] == "chat_template.jinja")
    }

    /// pack calibrates a model that ships text beside a tokenizer on that text (and says so), not on synthetic
    /// topic ids; --help says --calibration takes text too.
    @Test func packCalibratesOnTheModelsOwnText() throws {
        let dir = TemporaryDirectory()
        let r = try runBFFN(["pack", Fixtures.trainedModel, "-o", dir.file("t.bfpk"), "--profile", "cpu", "--no-bench", "--json", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let c = try #require(try JSONValue.parse(r.stdout)["calibration"])
        // prompts.txt: 12 paragraphs, 9 counted and 3 held back.
        #expect(c["source"] == "prompts.txt (beside the model)" && c["sequences"] == 9 && c["held_back"] == 3, "\(c)")
        // A model without text files (the reference fixtures have no tokenizer either) keeps the built-in workload.
        let plain = try runBFFN(["pack", Fixtures.blockLinearReference, "-o", dir.file("r.bfpk"), "--profile", "cpu", "--no-bench", "--json", "-q"])
        #expect(try JSONValue.parse(plain.stdout)["calibration"]?["source"] == "built-in", "\(plain.stderr)")
        let help = collapsed(try runBFFN(["pack", "--help"]).stdout)
        #expect(help.contains("--calibration <file> Calibration sequences: one comma-separated id list per line, or plain text"), "\(help)")
    }

    /// -p, -n and -t: generate -p "hi" no longer answers "give exactly one of --prompt, ...".
    @Test func shortNamesForPromptTokensAndThreads() throws {
        let long = try runBFFN(["generate", Fixtures.trainedModel, "--prompt", "The list type", "--max-new-tokens", "4", "--threads", "1", "-q"])
        let short = try runBFFN(["generate", Fixtures.trainedModel, "-p", "The list type", "-n", "4", "-t", "1", "-q"])
        #expect(short.status == 0 && short.stdout == long.stdout && !short.stdout.isEmpty, "\(short.stderr)")
        let verify = try runBFFN(["verify", Fixtures.trainedModel, "--reference", Fixtures.trainedModel, "--prompt-ids", "1,5,9", "-n", "3",
                                  "--speculative", "none", "--activations", "float", "--json"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(try JSONValue.parse(verify.stdout)["greedy_tokens"] == 3)
    }

    /// plot --prompts takes the text files verify --prompts takes (one reader for prompt files).
    @Test func plotPromptsAcceptText() throws {
        let dir = TemporaryDirectory()
        let text = try dir.write("prompts.txt", text: "The list type is\n\nimport os\nimport sys\n\ndef main():\n")
        let r = try runBFFN(["plot", Fixtures.trainedModel, "--prompts", text, "-o", dir.file("plots"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try JSONValue.parse(r.stdout)["prompts"] == 3)
        let ids = try dir.write("ids.txt", text: "1,5,9\n1,7,8,9\n")
        let idRun = try runBFFN(["plot", Fixtures.trainedModel, "--prompts", ids, "-o", dir.file("plots2"), "--json"])
        #expect(try JSONValue.parse(idRun.stdout)["tokens"] == 7, "\(idRun.stderr)")
    }

    /// verify --text without --prompts scores the text only (not the built-in random prompts too), and its
    /// percentages are rounded.
    @Test func verifyTextAloneScoresTheTextOnly() throws {
        let dir = TemporaryDirectory()
        let heldout = String(decoding: try Fixtures.bytes(Fixtures.trainedModel + "/heldout.txt"), as: UTF8.self)
        let text = try dir.write("h.txt", text: String(heldout.prefix(3000)))
        let args = ["verify", Fixtures.trainedModel, "--reference", Fixtures.trainedModel, "--text", text, "--context", "64", "--activations", "float"]
        let j = try JSONValue.parse(try runBFFN(args + ["--json"]).stdout)
        #expect(j["passed"] == true && j["prompts"] == 0 && j["positions"] == 0, "\(j)")
        #expect(j["text"]?["same_top1"] == 1.0 && (j["text"]?["scored_tokens"]?.intValue ?? 0) > 300)
        let r = try runBFFN(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("no prompts compared: the text only") && r.stdout.contains("same top-1  100.00 %"), "\(r.stdout)")
        // With --prompts as well, both are scored.
        let both = try JSONValue.parse(try runBFFN(args + ["--prompts", Fixtures.trainedModel + "/prompts.txt", "--json", "-n", "2", "--speculative", "none"]).stdout)
        #expect((both["prompts"]?.intValue ?? 0) > 0 && both["text"] != nil)
    }
}
