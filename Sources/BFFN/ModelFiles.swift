import BFFNChatTemplate
import BFFNCore
import BFFNPack
import BFFNTokenizer

/// Where the files that go with a model are found: its folder, and its tokenizer (carried in a pack, or beside a
/// checkpoint).
public enum ModelFiles {
    /// The folder of a model path: itself when it is a folder, else the folder of the file.
    public static func folder(of model: String) -> String {
        var info = stat()
        if stat(model, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { return model }
        return model.lastIndex(of: "/").map { String(model[..<$0]) } ?? "."
    }

    /// The tokenizer files of `model`: a pack's attachments of those names (and its carried config.json), else the
    /// files in the checkpoint's folder.
    /// - Throws: the pack's and the files' read errors.
    public static func tokenizerFiles(of model: String) throws -> TokenizerFiles {
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
        return try TokenizerFiles(folder: folder(of: model))
    }

    /// The tokenizer of `model` with its special tokens: `file` (a tokenizer.json or tokenizer.model) when given,
    /// else the model's own (tokenizer.json when both exist). `missingHint` ends the error when there is none.
    /// - Throws: `.io` naming where it looked when there is none; the tokenizer's and its configuration's errors.
    public static func tokenizer(of model: String, file: String? = nil, missingHint: String = "give a tokenizer file, or token ids") throws -> TokenizerBundle {
        try tokenizer(from: tokenizerFiles(of: model), model: model, file: file, missingHint: missingHint)
    }

    /// `tokenizer(of:file:missingHint:)` from the model's tokenizer files already read (`tokenizerFiles(of:)`).
    /// - Throws: as `tokenizer(of:file:missingHint:)`.
    public static func tokenizer(from files: TokenizerFiles, model: String, file: String? = nil,
                                 missingHint: String = "give a tokenizer file, or token ids") throws -> TokenizerBundle {
        if let file {
            let name = file.split(separator: "/").last.map(String.init) ?? file
            let t: any TextTokenizer = name.hasSuffix(".model") ? try SentencePieceTokenizer(path: file) : try HuggingFaceTokenizer(path: file)
            return try TokenizerBundle(tokenizer: t, source: file, files: files)
        }
        guard files.hasTokenizer else {
            throw BFFNError(.io, "no tokenizer.json or tokenizer.model \(PackFile.isPack(path: model) ? "in the pack (convert carries the files found beside the source)" : "beside the model"); \(missingHint)",
                            file: model)
        }
        return try TokenizerBundle(files: files)
    }
}

extension ModelFiles {
    /// The chat template of `model`: a pack's carried chat_template.jinja / tokenizer_config.json, else those
    /// beside the checkpoint (`ChatTemplate.load`); nil when the model has none.
    /// - Throws: the files' read errors; a malformed tokenizer_config.json; the template's syntax errors.
    public static func chatTemplate(of model: String) throws -> ChatTemplate? {
        try chatTemplate(from: tokenizerFiles(of: model), model: model)
    }

    /// `chatTemplate(of:)` from the model's tokenizer files already read (`tokenizerFiles(of:)`).
    /// - Throws: as `chatTemplate(of:)`.
    public static func chatTemplate(from files: TokenizerFiles, model: String) throws -> ChatTemplate? {
        let text = { (name: String) in files.files[name].map { String(decoding: $0, as: UTF8.self) } }
        return try ChatTemplate.load(tokenizerConfig: text("tokenizer_config.json"), templateFile: text("chat_template.jinja"),
                                     configPath: files.origins["tokenizer_config.json"] ?? model + "/tokenizer_config.json")
    }
}
