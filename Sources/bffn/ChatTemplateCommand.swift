import ArgumentParser
import BFFN
import BFFNChatTemplate
import BFFNCore
import BFFNTokenizer

/// `bffn chat-template MODEL --messages FILE`: the prompt a conversation becomes for this model.
struct ChatTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-template",
        abstract: "Print the prompt a conversation becomes with a model's chat template.",
        discussion: """
        The template is the model's chat_template.jinja, else tokenizer_config.json's chat_template (carried in a \
        pack, or beside a checkpoint), rendered exactly as transformers' apply_chat_template(messages, \
        tokenize=False, add_generation_prompt=...) renders it (docs/chat-templates.md). A model without one uses \
        the published BlockFFN format: system text first, then <用户>{user}<AI>{assistant} per turn; a \
        conversation ending with a user turn ends with <AI> (the generation prompt) unless \
        --add-generation-prompt is left out. bffn generate --chat and bffn serve use the same rendering.

        The text is printed exactly as rendered (no newline added). A template that raises an error \
        (raise_exception) or fails exits 1 with its message.

        Examples:
          bffn chat-template fixtures/trained --messages chat.json --add-generation-prompt
          echo '[{"role": "user", "content": "Hi"}]' | bffn chat-template model.bfpk --messages - --json
        """
    )

    @Argument(help: "A pack, a checkpoint, or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @Option(help: ArgumentHelp("A JSON list of messages ({\"role\", \"content\", ...}), as given to apply_chat_template; - reads standard input.", valueName: "file"),
            completion: .file())
    var messages: String

    @Flag(help: "End with the start of the assistant's reply (add_generation_prompt=True).")
    var addGenerationPrompt = false

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func run() throws {
        try printing.run {
            let model = try HubCache.resolve(self.model)
            let text = try readTextInput(messages)
            let list = try JSONValue.parse(text, file: messages == "-" ? "<stdin>" : messages, what: "messages")
            guard let items = list.arrayElements else {
                throw BFFNError(.invalidJSON, "the messages must be a JSON list, not \(list.typeName)", file: messages)
            }
            let rendered: String
            let template = try ModelFiles.chatTemplate(of: model)
            if let template {
                rendered = try template.render(messages: items, addGenerationPrompt: addGenerationPrompt, bosToken: template.bosToken, eosToken: template.eosToken)
            } else {
                let conversation = try ChatMessage.conversation(json: text, file: messages)
                rendered = try ChatRendering.render(conversation, template: nil, addGenerationPrompt: addGenerationPrompt).text
            }
            if printing.json {
                printing.emit(.object([("text", .string(rendered)), ("template", .string(template == nil ? "blockffn" : "model"))]))
            } else {
                print(rendered, terminator: "")
            }
        }
    }
}
