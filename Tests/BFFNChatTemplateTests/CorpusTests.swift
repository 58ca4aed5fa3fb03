import BFFNChatTemplate
import BFFNCore
import BFFNTestSupport
import Testing

/// The corpus of fixtures/chat-templates: 12 real templates on 8 conversations (and a tools case), rendered by
/// Python's jinja2 as transformers renders them; every case must match byte for byte, errors included.
@Suite("chat template corpus")
struct CorpusTests {
    static func json(_ name: String) throws -> JSONValue {
        let bytes = try Fixtures.bytes(Fixtures.path("chat-templates/\(name)"))
        return try bytes.withUnsafeBytes { try JSONValue.parse($0, file: name, maxDepth: 64) }
    }

    @Test func everyCaseMatchesJinja2() throws {
        let templates = try Self.json("templates.json")
        let cases = try Self.json("expected.json").arrayElements!
        #expect(cases.count == 198)
        var parsed: [String: ChatTemplate] = [:]
        var rendered = 0, errors = 0
        for c in cases {
            let name = c["template"]!.stringValue!
            let spec = templates[name]!
            if parsed[name] == nil { parsed[name] = try ChatTemplate(source: spec["template"]!.stringValue!) }
            let label = "\(name) / \(c["case"]!.stringValue!) / add_generation_prompt \(c["add_generation_prompt"]!.boolValue!)"
            let run = {
                try parsed[name]!.render(messages: c["conversation"]!.arrayElements!, addGenerationPrompt: c["add_generation_prompt"]!.boolValue!,
                                         tools: c["tools"]?.arrayElements, bosToken: spec["bos_token"]!.stringValue,
                                         eosToken: spec["eos_token"]!.stringValue)
            }
            if c["error"]?.boolValue == true {
                do {
                    let text = try run()
                    Issue.record("\(label): rendered \(text.debugDescription), expected an error")
                } catch let e as BFFNError {
                    #expect(e.code == .templateRaised && e.reason == c["error_message"]!.stringValue!, "\(label): \(e)")
                    errors += 1
                }
            } else {
                let text = try run()
                let expected = c["rendered"]!.stringValue!
                #expect(Array(text.utf8) == Array(expected.utf8), "\(label):\n\(text.debugDescription)\n!=\n\(expected.debugDescription)")
                if Array(text.utf8) == Array(expected.utf8) { rendered += 1 }
            }
        }
        #expect(rendered == 190 && errors == 8)
    }
}
