import BFFNCore
import BFFNTestSupport
import Testing

/// `bffn chat-template` and `generate --chat` with a model's own template: jinja2's renderings of the corpus are
/// the reference.
@Suite("chat templates from the command line") struct ChatTemplateCommandTests {
    /// A copy of the bundled model's tokenizer files with `template` (a corpus template) as chat_template.jinja.
    /// `tokens`: also write the template's bos/eos tokens into tokenizer_config.json (not for generation: the bundled
    /// vocabulary lacks most of them, which the tokenizer refuses).
    static func modelWithTemplate(_ name: String, in dir: TemporaryDirectory, tokens: Bool = true) throws -> (folder: String, expected: [JSONValue]) {
        let templates = try JSONValue.parse(String(decoding: Fixtures.bytes(Fixtures.path("chat-templates/templates.json")), as: UTF8.self))
        let expected = try JSONValue.parse(String(decoding: Fixtures.bytes(Fixtures.path("chat-templates/expected.json")), as: UTF8.self))
        let folder = dir.path
        for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "special_tokens_map.json"] {
            _ = try dir.copy(Fixtures.trainedModel + "/" + f, as: f)
        }
        let t = templates[name]!
        var config: [(String, JSONValue)] = []
        if tokens, let bos = t["bos_token"], bos != .null { config.append(("bos_token", bos)) }
        if tokens, let eos = t["eos_token"], eos != .null { config.append(("eos_token", eos)) }
        _ = try dir.write("tokenizer_config.json", text: JSONValue.object(config).serialized(pretty: true))
        _ = try dir.write("chat_template.jinja", text: t["template"]!.stringValue!)
        return (folder, expected.arrayElements!.filter { $0["template"]?.stringValue == name })
    }

    @Test func rendersAsJinja2DoesAndFallsBackToThePublishedFormat() throws {
        let dir = TemporaryDirectory()
        let (folder, cases) = try Self.modelWithTemplate("qwen2.5", in: dir)
        var checked = 0
        for c in cases where c["tools"] == nil && c["error"] == nil {
            let messages = try dir.write("messages.json", text: c["conversation"]!.serialized(pretty: false))
            let add = c["add_generation_prompt"]?.boolValue == true
            let r = try runBFFN(["chat-template", folder, "--messages", messages, "--json"] + (add ? ["--add-generation-prompt"] : []))
            #expect(r.status == 0, "\(r.stderr)")
            let j = try JSONValue.parse(r.stdout)
            #expect(j["text"] == c["rendered"] && j["template"] == "model", "\(c["case"]!)")
            let plain = try runBFFN(["chat-template", folder, "--messages", messages] + (add ? ["--add-generation-prompt"] : []))
            #expect(plain.stdout == c["rendered"]?.stringValue)
            checked += 1
        }
        #expect(checked >= 10)
        // The bundled model has no template: the published format, with and without the generation prompt.
        let chat = try dir.write("chat.json", text: #"[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]"#)
        #expect(try runBFFN(["chat-template", Fixtures.trainedModel, "--messages", chat, "--add-generation-prompt"]).stdout == "Be brief.<用户>hi<AI>")
        #expect(try runBFFN(["chat-template", Fixtures.trainedModel, "--messages", chat]).stdout == "Be brief.<用户>hi")
    }

    /// A template's raise_exception is exit 1 with the template's message; malformed messages are named.
    @Test func templateErrorsAreReported() throws {
        let dir = TemporaryDirectory()
        let (folder, cases) = try Self.modelWithTemplate("mistral", in: dir)
        let failing = try #require(cases.first { $0["error"] == true })
        let messages = try dir.write("bad.json", text: failing["conversation"]!.serialized(pretty: false))
        let r = try runBFFN(["chat-template", folder, "--messages", messages, "--json"])
        #expect(r.status == 1)
        #expect(try JSONValue.parse(r.stdout)["error"]?["reason"]?.stringValue?.contains(failing["error_message"]!.stringValue!) == true, "\(r.stdout)")
        let notAList = try dir.write("obj.json", text: "{}")
        #expect(try runBFFN(["chat-template", folder, "--messages", notAList]).status == 1)
    }

    /// generate --chat writes the conversation with the model's template and encodes it without added special
    /// tokens (the template writes them), as transformers does.
    @Test func generateChatUsesTheTemplate() throws {
        let dir = TemporaryDirectory()
        let (folder, _) = try Self.modelWithTemplate("qwen2.5", in: dir, tokens: false)
        let messages = try dir.write("m.json", text: #"[{"role": "user", "content": "hi"}]"#)
        let rendered = try runBFFN(["chat-template", folder, "--messages", messages, "--add-generation-prompt"]).stdout
        let ids = try JSONValue.parse(try runBFFN(["tokenize", folder, "-p", rendered, "--json"]).stdout)["ids"]
        let g = try runBFFN(["generate", folder, "--chat", "-p", "hi", "-n", "2", "--json"])
        #expect(g.status == 0, "\(g.stderr)")
        #expect(try JSONValue.parse(g.stdout)["prompt_ids"] == ids)
        #expect(!g.stderr.contains("warning"))
    }
}
