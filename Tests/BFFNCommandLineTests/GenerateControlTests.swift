import BFFNCore
import BFFNTestSupport
import Foundation
import Testing

/// `generate --json`'s members, with the exit status and stderr.
private func generateJSON(_ args: [String]) throws -> (status: Int32, json: JSONValue?, stderr: String) {
    let r = try runBFFN(["generate"] + args + ["--json"])
    return (r.status, r.status == 0 ? try JSONValue.parse(r.stdout) : nil, r.stderr)
}

/// The ids `bffn tokenize` gives `text` with bos added, as generate encodes a prompt.
private func tokenized(_ model: String, _ text: String) throws -> [Int] {
    intArray(try JSONValue.parse(try runBFFN(["tokenize", model, "-p", text, "--add-special", "--json"]).stdout)["ids"])
}

@Suite("generate: repeat penalty, min-p, stop strings and chat", .serialized)
struct GenerateControlTests {
    /// On the bundled model greedy text loops ("import time" again and again); --repeat-penalty 1.3 breaks the
    /// loop, and speculative decoding (prompt lookup, a draft model, the EAGLE head) gives the same ids with it.
    @Test func repeatPenaltyBreaksTheLoopAndSpeculationKeepsIt() throws {
        let model = Fixtures.trainedModel
        let base = ["generate", model, "--prompt", "import os", "--max-new-tokens", "40"]
        let plain = try generateJSON(Array(base.dropFirst()))
        let loop = plain.json?["text"]?.stringValue ?? ""
        #expect(loop.contains("import time\nimport time\nimport time"), "\(loop)")
        let penalised = try generateJSON(Array(base.dropFirst()) + ["--repeat-penalty", "1.3"])
        let text = penalised.json?["text"]?.stringValue ?? ""
        let ids = intArray(penalised.json?["generated_ids"])
        #expect(penalised.status == 0 && ids.count == 40 && !text.contains("import time\nimport time"), "\(text)")
        #expect(ids != intArray(plain.json?["generated_ids"]))
        for drafter in ["ngram", "draft:\(model)", "eagle:\(Fixtures.trainedEagle)"] {
            let spec = try generateJSON(Array(base.dropFirst()) + ["--repeat-penalty", "1.3", "--speculative", drafter, "--fixed-draft"])
            #expect(spec.status == 0 && intArray(spec.json?["generated_ids"]) == ids, "\(drafter): \(spec.stderr)")
        }
        // A window of 1 token penalises only the last one: a different text again, and deterministic.
        let window = try generateJSON(Array(base.dropFirst()) + ["--repeat-penalty", "1.3", "--repeat-last-n", "1"])
        #expect(intArray(window.json?["generated_ids"]) != ids)
        // Min-p 1 keeps only the most likely token: sampling then equals greedy decoding.
        let minP = try generateJSON(Array(base.dropFirst()) + ["--temperature", "1.5", "--seed", "4", "--min-p", "1"])
        #expect(intArray(minP.json?["generated_ids"]) == intArray(plain.json?["generated_ids"]))
        let hot = try generateJSON(Array(base.dropFirst()) + ["--temperature", "1.5", "--seed", "4"])
        #expect(intArray(hot.json?["generated_ids"]) != intArray(plain.json?["generated_ids"]))
        for bad in [["--min-p", "2"], ["--repeat-penalty", "0"], ["--repeat-last-n", "-2"], ["--stop", ""]] {
            let r = try runBFFN(base + bad)
            #expect(r.status == 2, "\(bad): \(r.stderr)")
        }
    }

    /// --stop ends generation when the text contains the string, cut before it (stop_reason stop), in JSON, in
    /// streamed text and with speculative decoding; a string that never appears changes nothing.
    @Test func stopStringsCutTheText() throws {
        let model = Fixtures.trainedModel
        let args = [model, "--prompt", "import os", "--max-new-tokens", "40", "--stop", "import time"]
        let r = try generateJSON(args)
        #expect(r.json?["text"] == "\nimport sys\nimport threading\n" && r.json?["stop_reason"] == "stop", "\(r.stderr)")
        // The ids run up to the one that completed the stop string.
        let ids = intArray(r.json?["generated_ids"])
        let decoded = try JSONValue.parse(try runBFFN(["detokenize", model, "--ids", ids.map(String.init).joined(separator: ","), "--json"]).stdout)
        #expect(decoded["text"]?.stringValue?.hasSuffix("import time") == true)
        let streamed = try runBFFN(["generate"] + args + ["-q"])
        #expect(streamed.stdout == "\nimport sys\nimport threading\n\n", "\(streamed.stdout)")
        let spec = try generateJSON(args + ["--speculative", "ngram"])
        #expect(intArray(spec.json?["generated_ids"]) == ids && spec.json?["text"] == r.json?["text"])
        // Two stop strings: the first to appear wins.
        let two = try generateJSON(args + ["--stop", "threading"])
        #expect(two.json?["text"] == "\nimport sys\nimport ")
        let never = try generateJSON([model, "--prompt", "import os", "--max-new-tokens", "12", "--stop", "zebra"])
        #expect(never.json?["stop_reason"] == "max_new_tokens" && intArray(never.json?["generated_ids"]).count == 12)
    }

    /// --chat warns when the vocabulary lacks the chat markers; --system and --chat-file write the documented
    /// multi-turn format, and one turn stays <用户>{prompt}<AI>.
    @Test func chatFormatsTurnsAndWarnsWithoutMarkers() throws {
        let dir = TemporaryDirectory()
        let model = try textModel(dir)
        let common = ["--max-new-tokens", "2", "--ignore-eos"]
        let single = try generateJSON([model, "--prompt", "hi", "--chat"] + common)
        #expect(intArray(single.json?["prompt_ids"]) == (try tokenized(model, "<用户>hi<AI>")))
        #expect(single.stderr.contains("warning: the tokenizer has no single token for <用户> and <AI>"), "\(single.stderr)")
        let system = try generateJSON([model, "--prompt", "hi", "--chat", "--system", "Be brief."] + common)
        #expect(intArray(system.json?["prompt_ids"]) == (try tokenized(model, "Be brief.<用户>hi<AI>")))
        let file = try dir.write("chat.json", text: #"""
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
             {"role": "assistant", "content": "hello"}, {"role": "user", "content": "why?"}]
            """#)
        let turns = try generateJSON([model, "--chat-file", file] + common)
        #expect(intArray(turns.json?["prompt_ids"]) == (try tokenized(model, "Be brief.<用户>hi<AI>hello<用户>why?<AI>")), "\(turns.stderr)")
        // --system goes before the file's messages.
        let both = try generateJSON([model, "--chat-file", file, "--system", "S."] + common)
        #expect(intArray(both.json?["prompt_ids"]) == (try tokenized(model, "S.Be brief.<用户>hi<AI>hello<用户>why?<AI>")))
        // Malformed files: the error names the file and the message's field.
        for (text, field) in [(#"[{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]"#, "'[1].role'"),
                              (#"[{"role": "user"}]"#, "'[0].content'"), (#"["hi"]"#, "'[0]'"), (#"{"role": "user"}"#, "list"),
                              ("[]", "no messages"), (#"[{"role": "user", "content": "x"}"#, "chat file")] {
            let bad = try dir.write("bad.json", text: text)
            let r = try runBFFN(["generate", model, "--chat-file", bad] + common)
            #expect(r.status == 1 && r.stderr.contains(bad) && r.stderr.contains(field), "\(text): \(r.stderr)")
        }
        #expect(try runBFFN(["generate", model, "--prompt", "hi", "--system", "S."] + common).status == 2)
        #expect(try runBFFN(["generate", model, "--prompt", "hi", "--chat-file", file] + common).status == 2)

        // A tokenizer with the markers as tokens: no warning, and each marker is one id.
        var tokenizer = String(decoding: try Fixtures.bytes(Fixtures.path("tokenizers/tiny-bpe/tokenizer.json")), as: UTF8.self)
        tokenizer = tokenizer.replacing(#""added_tokens": ["#, with: #""added_tokens": [{"id": 500, "content": "<用户>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}, {"id": 501, "content": "<AI>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}, "#)
        _ = try dir.write("m/tokenizer.json", text: tokenizer)
        let marked = try generateJSON([model, "--prompt", "hi", "--chat"] + common)
        #expect(marked.status == 0 && !marked.stderr.contains("warning"), "\(marked.stderr)")
        let markedIds = intArray(marked.json?["prompt_ids"])
        #expect(markedIds.contains(500) && markedIds.last == 501, "\(markedIds)")
    }
}
