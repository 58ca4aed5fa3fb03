import BFFN
import BFFNCore
import BFFNKernels
import BFFNPack
import BFFNServer
import BFFNTestSupport
import Testing

/// The server renders chats with the template the model found, a pack's carried chat_template.jinja included, as
/// `generate --chat` does.
@Suite("server chat template") struct ServerChatTemplateTests {
    @Test func aPackCarriesItsTemplateToTheServer() throws {
        let dir = TemporaryDirectory()
        let templates = try JSONValue.parse(String(decoding: Fixtures.bytes(Fixtures.path("chat-templates/templates.json")), as: UTF8.self))
        for f in ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "special_tokens_map.json"] {
            _ = try dir.copy(Fixtures.trainedModel + "/" + f, as: f)
        }
        _ = try dir.write("tokenizer_config.json", text: "{}")
        _ = try dir.write("chat_template.jinja", text: try #require(templates["qwen2.5"]?["template"]?.stringValue))
        var o = ConvertOptions()
        o.quant = try StorageType(parsing: "q8")
        o.threads = 1
        let pack = dir.file("m.bfpk")
        _ = try Conversion.convert(source: dir.path, output: pack, options: o)
        var c = ServerConfiguration(modelPath: pack)
        c.modelOptions.threads = 1
        #expect(try CompletionServer(configuration: c).chatFormatName == "template")
        var plain = ServerConfiguration(modelPath: Fixtures.trainedModel)
        plain.modelOptions.threads = 1
        #expect(try CompletionServer(configuration: plain).chatFormatName == "miniCPM")
    }
}
