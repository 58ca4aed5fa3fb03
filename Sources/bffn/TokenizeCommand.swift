import ArgumentParser
import BFFNCore
import BFFNTokenizer

/// `bffn tokenize MODEL --text T`: text to token ids with the model's tokenizer.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Text to token ids with a model's tokenizer.",
        discussion: """
        MODEL is a pack, a checkpoint (folder or weight file), a folder holding only tokenizer files, a Hugging \
        Face cache folder (models--ORG--NAME) or ORG/NAME found in the local cache. The tokenizer is the pack's \
        carried tokenizer.json or tokenizer.model, else the one beside the checkpoint (tokenizer.json when both \
        exist); --tokenizer chooses a file. Ids are those of the Python libraries' encode(text, \
        add_special_tokens=False); --add-special adds bos/eos as tokenizer_config.json says.

        Examples:
          bffn tokenize fixtures/trained --text "Hello world"
          bffn tokenize model.bfpk --file prompt.txt --json
        """
    )

    @Argument(help: "A pack, a checkpoint, a folder of tokenizer files, or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @Option(help: "The text to encode.")
    var text: String?

    @Option(help: "A UTF-8 file whose whole content is encoded.", completion: .file())
    var file: String?

    @Flag(help: "Add bos / eos as the tokenizer config says.")
    var addSpecial = false

    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
    }

    func run() throws {
        try printing.run {
            let model = try HubCache.resolve(self.model)
            let bundle = try tokenizing.load(model: model)
            let input = try text ?? String(decoding: MappedFile(path: file!).contents, as: UTF8.self)
            let ids = try bundle.encode(input, addSpecial: addSpecial)
            if printing.json {
                printing.emit(.object([
                    ("ids", .array(ids.map { .integer($0) })),
                    ("tokens", .array(ids.map { .string(bundle.tokenizer.token(of: $0) ?? "") })),
                    ("tokenizer", .string(bundle.tokenizer.kind)), ("source", .string(bundle.source)),
                ]))
            } else {
                print(ids.map(String.init).joined(separator: ","))
                if printing.verbose { FileHandleOutput.standardError(ids.map { bundle.tokenizer.token(of: $0) ?? "?" }.joined(separator: " | ") + "\n") }
            }
        }
    }
}

/// `bffn detokenize MODEL --ids 5,17,42`: token ids to text.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Token ids to text with a model's tokenizer.",
        discussion: """
        The text is what the Python libraries' decode(ids, skip_special_tokens=False) gives. MODEL is found as \
        for `bffn tokenize`.

        Example:
          bffn detokenize fixtures/trained --ids 1,450,3186
        """
    )

    @Argument(help: "A pack, a checkpoint, a folder of tokenizer files, or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @Option(help: "Comma-separated token ids.")
    var ids: String

    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws { _ = try parseTokenIds(ids) }

    func run() throws {
        try printing.run {
            let model = try HubCache.resolve(self.model)
            let bundle = try tokenizing.load(model: model)
            let text = try bundle.decode(parseTokenIds(ids))
            if printing.json { printing.emit(.object([("text", .string(text))])) } else { print(text) }
        }
    }
}
