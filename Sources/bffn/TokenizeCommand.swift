import ArgumentParser
import BFFNCore
import BFFNTokenizer

/// `bffn tokenize MODEL -p TEXT`: text to token ids with the model's tokenizer.
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
          bffn tokenize fixtures/trained -p "Hello world"
          bffn tokenize model.bfpk --prompt-file prompt.txt --json
          echo "Hello" | bffn tokenize fixtures/trained -f -

        Output: the ids on one line (comma-separated), then one line per token: its id, a tab and its piece (the \
        vocabulary entry; a newline, tab or carriage return in it shown as \\n, \\t, \\r).
        """
    )

    @Argument(help: "A pack, a checkpoint, a folder of tokenizer files, or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @OptionGroup var input: PromptOptions

    @Option(help: .hidden) var text: String?
    @Option(help: .hidden) var file: String?

    @Flag(help: "Add bos / eos as the tokenizer config says.")
    var addSpecial = false

    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard input.givenCount + (text != nil ? 1 : 0) + (file != nil ? 1 : 0) == 1 else {
            throw ValidationError("give exactly one of --prompt, --prompt-file and --prompt-ids")
        }
        _ = try input.ids()
    }

    func run() throws {
        try printing.run {
            let model = try HubCache.resolve(self.model)
            let bundle = try tokenizing.load(model: model)
            // --text and --file: this command's earlier spellings of --prompt and --prompt-file, still accepted.
            let ids: [Int]
            if let given = try input.ids() {
                ids = given
            } else {
                ids = try bundle.encode(text ?? input.text() ?? readTextInput(file!), addSpecial: addSpecial)
            }
            if printing.json {
                TokenizeJSONOutput.write(ids: ids, bundle: bundle)
            } else {
                TokenizeJSONOutput.writePlain(ids: ids, bundle: bundle)
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
        The text is what the Python libraries' decode(ids, skip_special_tokens=False) gives; with \
        --skip-special-tokens the tokenizer's special tokens (bos, eos, pad and unk as its configuration names \
        them) are left out first, as decode(ids, skip_special_tokens=True). No ids (--ids "") give the empty text. \
        MODEL is found as for `bffn tokenize`.

        Example:
          bffn detokenize fixtures/trained --ids 1,450,3186
        """
    )

    @Argument(help: "A pack, a checkpoint, a folder of tokenizer files, or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @Option(help: "Comma-separated token ids (\"\" for none).")
    var ids: String

    @Flag(help: "Leave out the special tokens (bos, eos, pad, unk), as decode(ids, skip_special_tokens=True).")
    var skipSpecialTokens = false

    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    /// The ids given: none for an empty or all-space list.
    func idList() throws -> [Int] {
        ids.allSatisfy({ $0 == " " }) ? [] : try parseTokenIds(ids)
    }

    func validate() throws { _ = try idList() }

    func run() throws {
        try printing.run {
            let model = try HubCache.resolve(self.model)
            let bundle = try tokenizing.load(model: model)
            var list = try idList()
            if skipSpecialTokens {
                let special = Set([bundle.bosId, bundle.padId, bundle.unknownId].compactMap { $0 } + bundle.eosIds)
                list.removeAll { special.contains($0) }
            }
            let text = try bundle.decode(list)
            if printing.json { printing.emit(.object([("text", .string(text))])) } else { print(text) }
        }
    }
}

/// A token piece on one line: newline, tab and carriage return shown as \\n, \\t and \\r.
func visiblePiece(_ piece: String) -> String {
    var out = ""
    for c in piece.unicodeScalars {
        switch c {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}
