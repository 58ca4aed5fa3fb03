import ArgumentParser
import BFFNCore
import BFFNModel
import BFFNTokenizer

// The two ways a command takes its input, each spelled once:
//   PromptOptions            one prompt (generate, tokenize): -p/--prompt TEXT, -f/--prompt-file FILE, --prompt-ids IDS
//   SequenceInputOptions     sequences to run or score (verify, plot, trace): --prompt-ids IDS, --prompts FILE,
//                            --text FILE
// A value given as text on the command line is always --prompt; --text always names a file of running text.

/// One prompt, given as text, as a text file or as token ids (`generate`, `tokenize`).
struct PromptOptions: ParsableArguments {
    @Option(name: [.customShort("p"), .long], help: "The prompt text.")
    var prompt: String?

    @Option(name: [.customShort("f"), .long], help: "A UTF-8 file holding the prompt text; - reads standard input.", completion: .file())
    var promptFile: String?

    @Option(help: "The prompt as comma-separated token ids, e.g. 5,17,42 (no tokenizer needed).")
    var promptIds: String?

    /// How many of the three were given.
    var givenCount: Int { [prompt != nil, promptFile != nil, promptIds != nil].filter { $0 }.count }

    /// The ids of --prompt-ids, or nil when the prompt is text.
    /// - Throws: `ValidationError` for a malformed list.
    func ids() throws -> [Int]? { try promptIds.map(parseTokenIds) }

    /// The prompt's text (--prompt, or the whole of --prompt-file), or nil when it was given as ids or not at all.
    /// - Throws: the file's read errors.
    func text() throws -> String? {
        if let prompt { return prompt }
        if let promptFile { return try readTextInput(promptFile) }
        return nil
    }
}

/// Sequences of tokens to run or score (`verify`, `plot`, `trace`): one id list, a file of prompts, or running text.
struct SequenceInputOptions: ParsableArguments {
    @Option(help: "One prompt as comma-separated token ids, e.g. 5,17,42.")
    var promptIds: String?

    @Option(help: "A file of prompts: one comma-separated id list per line (blank and # lines skipped), or plain text whose paragraphs are the prompts (encoded with the model's tokenizer).", completion: .file())
    var prompts: String?

    @Option(help: ArgumentHelp("A text file, encoded with the model's tokenizer as one running text (what the command does with it: its description).", valueName: "file"), completion: .file())
    var text: String?

    /// Refuses --prompt-ids together with --prompts, and a malformed id list.
    /// - Throws: `ValidationError`.
    func validate() throws {
        if promptIds != nil && prompts != nil { throw ValidationError("give --prompt-ids or --prompts, not both") }
        if let promptIds { _ = try parseTokenIds(promptIds) }
    }

    /// Whether any of the three was given.
    var isEmpty: Bool { promptIds == nil && prompts == nil && text == nil }

    /// The prompts of --prompt-ids or --prompts (read by `readPromptFile`), or nil when neither was given.
    /// - Throws: the file's and the tokenizer's errors; `.outOfBounds` for an id outside the vocabulary.
    func promptList(model: String, weights: ModelWeights, tokenizing: TokenizerOptions, maxLength: Int? = nil) throws -> [[Int]]? {
        if let promptIds {
            let ids = try parseTokenIds(promptIds)
            if let bad = ids.first(where: { $0 >= weights.architecture.vocabSize }) {
                throw BFFNError(.outOfBounds, "token id \(bad) is not below the model's vocabulary size \(weights.architecture.vocabSize)", field: "--prompt-ids")
            }
            return [ids]
        }
        if let prompts { return try readPromptFile(prompts, model: model, weights: weights, tokenizing: tokenizing, maxLength: maxLength) }
        return nil
    }

    /// The ids of --text (no special tokens added) and the tokenizer that gave them, or nil without --text.
    /// - Throws: the file's and the tokenizer's errors; `.shapeMismatch` for an id beyond the vocabulary; `.usage`
    ///   for a text that encodes to no tokens.
    func textIds(model: String, weights: ModelWeights, tokenizing: TokenizerOptions) throws -> (ids: [Int], tokenizer: TokenizerBundle)? {
        guard let text else { return nil }
        let bundle = try tokenizing.load(model: model)
        let ids = try bundle.encode(readTextInput(text))
        if let bad = ids.first(where: { $0 >= weights.architecture.vocabSize }) {
            throw BFFNError(.shapeMismatch, "the tokenizer gives id \(bad), beyond the model's vocabulary of \(weights.architecture.vocabSize)", file: text)
        }
        guard !ids.isEmpty else { throw BFFNError(.usage, "the text encodes to no tokens", file: text) }
        return (ids, bundle)
    }
}

/// The whole of a UTF-8 file as text; `-` reads standard input.
/// - Throws: the file's read errors.
func readTextInput(_ path: String) throws -> String {
    if path == "-" { return String(decoding: try FileHandleInput.readStandardInput(), as: UTF8.self) }
    return String(decoding: try MappedFile(path: path).contents, as: UTF8.self)
}

/// A comma-separated id list as given on the command line.
/// - Throws: `ValidationError` naming what is wrong.
func parseTokenIds(_ text: String) throws -> [Int] {
    do { return try TokenSequenceFile.parse(text, whitespace: " ") } catch let e as BFFNError { throw ValidationError(e.reason) }
}
