import ArgumentParser
import BFFN
import BFFNCore
import BFFNPack
import BFFNTokenizer

/// `--tokenizer FILE`: which tokenizer file a command uses instead of the model's own.
struct TokenizerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A tokenizer.json or tokenizer.model to use instead of the model's (default: the one carried in the pack or beside the checkpoint; tokenizer.json when both exist).", valueName: "file"),
            completion: .file())
    var tokenizer: String?

    /// The tokenizer of `model` (a pack, a checkpoint, or a folder of tokenizer files) with its special tokens.
    /// - Throws: `.io` naming where it looked when there is none; the tokenizer's and its configuration's errors.
    func load(model: String) throws -> TokenizerBundle {
        try ModelFiles.tokenizer(of: model, file: tokenizer, missingHint: "give one with --tokenizer, or token ids")
    }
}

/// `--no-tokenizer`: `convert` and `pack` carry the tokenizer files found beside the source unless told not to.
struct TokenizerCarryOptions: ParsableArguments {
    @Flag(help: "Do not carry tokenizer.json, tokenizer.model, tokenizer_config.json, special_tokens_map.json and generation_config.json from beside the source into the pack.")
    var noTokenizer = false

    /// The files to attach: `explicit` (--attach) plus the tokenizer files beside `source` (`Conversion.attachments`).
    func attachments(source: String, explicit: [String]) -> (all: [String], carried: [String]) {
        Conversion.attachments(source: source, explicit: explicit, carryTokenizer: !noTokenizer)
    }

    /// Says on stderr which files were carried (not with -q or --json).
    func report(_ carried: [String], printing: OutputOptions) {
        guard !carried.isEmpty, !printing.quiet, !printing.json else { return }
        FileHandleOutput.standardError("carried into the pack: \(carried.joined(separator: ", ")) (--no-tokenizer skips them)\n")
    }
}
