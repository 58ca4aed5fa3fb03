import BFFNChatTemplate
import BFFNCore
import BFFNTestSupport
import Testing

/// Finding a model's template as transformers does.
@Suite("chat template loading")
struct LoadTests {
    @Test func jinjaFileWinsOverTokenizerConfig() throws {
        let dir = TemporaryDirectory()
        _ = try dir.write("tokenizer_config.json", text: #"{"chat_template": "config", "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}"#)
        #expect(try ChatTemplate.load(modelDirectory: dir.path)?.source == "config")
        _ = try dir.write("chat_template.jinja", text: "{{ bos_token }}file\n")
        let t = try #require(try ChatTemplate.load(modelDirectory: dir.path))
        #expect(t.source == "{{ bos_token }}file\n" && t.bosToken == "<s>" && t.eosToken == "</s>")
        #expect(try t.render(messages: [], addGenerationPrompt: false, bosToken: t.bosToken, eosToken: t.eosToken) == "<s>file")
    }

    @Test func namedTemplatesTakeDefault() throws {
        let dir = TemporaryDirectory()
        _ = try dir.write("tokenizer_config.json", text: #"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}], "bos_token": null}"#)
        let t = try #require(try ChatTemplate.load(modelDirectory: dir.path))
        #expect(t.source == "D" && t.bosToken == nil && t.eosToken == nil)
        _ = try dir.write("tokenizer_config.json", text: #"{"chat_template": [{"name": "tool_use", "template": "T"}]}"#)
        #expect(throws: BFFNError(.invalidConfig, "")) { _ = try ChatTemplate.load(modelDirectory: dir.path) }
    }

    @Test func noTemplateIsNil() throws {
        let dir = TemporaryDirectory()
        #expect(try ChatTemplate.load(modelDirectory: dir.path) == nil)
        _ = try dir.write("tokenizer_config.json", text: #"{"bos_token": "<s>"}"#)
        #expect(try ChatTemplate.load(modelDirectory: dir.path) == nil)
    }
}
