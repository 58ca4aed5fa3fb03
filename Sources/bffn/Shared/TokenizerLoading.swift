import ArgumentParser
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
        let files = try tokenizerFiles(of: model)
        if let path = tokenizer {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            let t: any TextTokenizer = name.hasSuffix(".model") ? try SentencePieceTokenizer(path: path) : try HuggingFaceTokenizer(path: path)
            return try TokenizerBundle(tokenizer: t, source: path, files: files)
        }
        guard files.hasTokenizer else {
            throw BFFNError(.io, "no tokenizer.json or tokenizer.model \(PackFile.isPack(path: model) ? "in the pack (convert carries the files found beside the source)" : "beside the model"); give one with --tokenizer, or token ids",
                            file: model)
        }
        return try TokenizerBundle(files: files)
    }
}

/// The tokenizer files of `model`: a pack's attachments of those names, else the files in the checkpoint's folder
/// (the folder given, or the folder of the weight file given).
/// - Throws: the pack's and files' read errors.
func tokenizerFiles(of model: String) throws -> TokenizerFiles {
    if PackFile.isPack(path: model) {
        let pack = try PackFile(path: model)
        var files = TokenizerFiles()
        for a in pack.attachments where TokenizerFiles.names.contains(a.name) {
            try files.add(a.name, bytes: try pack.bytes(at: a.offset, count: a.bytes).withBytes { Array($0) }, origin: model + ":" + a.name)
        }
        if let config = pack.attachments.first(where: { $0.name == "config.json" }) {
            files.modelConfig = try? pack.bytes(at: config.offset, count: config.bytes).withBytes { try JSONValue.parse($0) }
        }
        return files
    }
    return try TokenizerFiles(folder: modelFolder(of: model))
}

/// The folder of a checkpoint argument: itself when it is a folder, else the folder of the file.
func modelFolder(of model: String) -> String {
    var info = stat()
    if stat(model, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { return model }
    return model.lastIndex(of: "/").map { String(model[..<$0]) } ?? "."
}

/// `--no-tokenizer`: `convert` and `pack` carry the tokenizer files found beside the source unless told not to.
struct TokenizerCarryOptions: ParsableArguments {
    @Flag(help: "Do not carry tokenizer.json, tokenizer.model, tokenizer_config.json, special_tokens_map.json and generation_config.json from beside the source into the pack.")
    var noTokenizer = false

    /// The files to attach: `explicit` (--attach) plus the tokenizer files beside `source` whose names are not
    /// already attached; and the names of those carried.
    func attachments(source: String, explicit: [String]) -> (all: [String], carried: [String]) {
        guard !noTokenizer, !PackFile.isPack(path: source) else { return (explicit, []) }
        let explicitNames = Set(explicit.map { $0.split(separator: "/").last.map(String.init) ?? $0 })
        let carried = TokenizerFiles.paths(in: modelFolder(of: source)).filter { !explicitNames.contains($0.split(separator: "/").last.map(String.init) ?? $0) }
        return (explicit + carried, carried.map { $0.split(separator: "/").last.map(String.init) ?? $0 })
    }

    /// Says on stderr which files were carried (not with -q or --json).
    func report(_ carried: [String], printing: OutputOptions) {
        guard !carried.isEmpty, !printing.quiet, !printing.json else { return }
        FileHandleOutput.standardError("carried into the pack: \(carried.joined(separator: ", ")) (--no-tokenizer skips them)\n")
    }
}
