import ArgumentParser
import BFFNCheckpoint
import BFFNCore
import BFFNInspect
import BFFNModel
import BFFNPack
import BFFNTokenizer

/// `bffn inspect PATH`: a model summary, the tensor table, or a JSON document.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a checkpoint: format, parameters, dtypes, architecture, expert layout.",
        discussion: """
        Reads only headers (the safetensors JSON header, the zip directory and data.pkl), so it is fast on \
        multi-GB files. Exits 1 when the file is malformed or the model cannot be recognised (the summary is \
        still printed for a readable file whose model is not recognised).

        Examples:
          bffn inspect fixtures/reference/mla-block-rms-bf16
          bffn inspect model.safetensors --tensors
          bffn inspect pytorch_model.bin --json | jq .model
        """
    )

    @Argument(help: "A .bfpk pack, a .safetensors or .bin file, a shard index .json, or a checkpoint folder.", completion: .file())
    var path: String

    @Flag(help: "Also print the table of every tensor (name, dtype, shape, bytes).")
    var tensors = false

    @Flag(help: "Also read every tensor's bytes and verify checksums (zip CRC-32s of .bin files; every CRC of a .bfpk) and report the read speed.")
    var check = false

    @OptionGroup var skillCard: SkillCardOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func run() throws {
        try printing.run {
            let path = try HubCache.resolve(self.path)
            if let found = try skillCard.layer(at: path) {
                let summary = SkillCardInspection(layer: found.layer, format: found.format, files: found.files)
                if printing.json { printing.emit(summary.json) } else { print(summary.text) }
                return
            }
            if PackFile.isPack(path: path) {
                let pack = try PackFile(path: path)
                let report = PackInspectionReport(pack: pack)
                if let e = report.draftHeadError { throw e }
                if check {
                    let progress = ProgressReporter(label: "inspect", options: printing)
                    progress.note("checking every CRC-32 of the pack")
                    try pack.verifyChecksums()
                    progress.finish()
                }
                let tokenizer = try inspectTokenizer(path: path, embeddingRows: pack.config.vocabSize)
                let context = try inspectContext(path: path, config: pack.config)
                if printing.json {
                    var doc = report.json
                    if check { doc = doc.appending("check", .object([("passed", true)])) }
                    printing.emit(adding(context.jsonMembers, to: tokenizer.addJSON(to: doc)))
                } else {
                    print(report.text(includeTensors: tensors))
                    for line in context.textLines { print(line) }
                    tokenizer.printText()
                    if check { print("check       every header, manifest, tensor, expert block and attachment CRC-32 matched") }
                }
                return
            }
            let checkpoint = try Checkpoint(path: path)
            if EagleHead.recognizes(checkpoint) {
                // An EAGLE draft head in the published layout: its shape, not a model.
                let head = DraftHeadInspection(head: try EagleHead(checkpoint: checkpoint), vocabularies: DraftHeadInspection.frequencyLists(in: modelFolder(of: path)), carried: false)
                if printing.json {
                    printing.emit(head.document(format: checkpoint.format.rawValue, files: checkpoint.filePaths))
                } else {
                    print("format      \(checkpoint.format.rawValue) (\(checkpoint.filePaths.joined(separator: ", ")))")
                    print(head.line)
                    print("note        a draft head, not a model: bffn generate/verify/bench MODEL --speculative eagle:\(self.path) drafts with it")
                }
                return
            }
            let report = InspectionReport(checkpoint: checkpoint)
            let progress = ProgressReporter(label: "inspect", options: printing)
            if check { progress.note("reading every byte on \(threading.threads) thread\(threading.threads == 1 ? "" : "s")") }
            let read = check ? try checkpoint.readEveryTensor(threads: threading.threads) : nil
            progress.finish()
            let tokenizer = try inspectTokenizer(path: path, embeddingRows: checkpoint.config.vocabSize)
            let context = try inspectContext(path: path, config: checkpoint.config)
            if printing.json {
                var doc = report.json
                if let read { doc = doc.appending("check", read.json) }
                printing.emit(adding(context.jsonMembers, to: tokenizer.addJSON(to: doc)))
            } else {
                print(report.text(includeTensors: tensors))
                for line in context.textLines { print(line) }
                tokenizer.printText()
                if let read {
                    let crc = checkpoint.format == .pytorch ? ", every zip CRC-32 matched" : ""
                    print("check       read \(read.bytes) bytes of \(read.tensors) tensors in \(String(Int(read.seconds * 1000))) ms (\(fixed(read.gigabytesPerSecond, 2)) GB/s)\(crc)")
                }
            }
            if let e = report.recognitionError { throw e }
        }
    }
}

/// What `inspect` says about the tokenizer carried in a pack or found beside a checkpoint.
struct TokenizerInspection {
    var bundle: TokenizerBundle?
    var error: BFFNError?
    var embeddingRows: Int?

    func addJSON(to doc: JSONValue) -> JSONValue {
        guard case .object(var members) = doc else { return doc }
        var value: JSONValue = .null
        if let bundle { value = bundle.summaryJSON(embeddingRows: embeddingRows) }
        if let error { value = .object([("error", .string(error.description))]) }
        members.append(JSONMember("tokenizer", value))
        return .object(members)
    }

    func printText() {
        if let bundle {
            print("tokenizer   \(bundle.summaryLine())")
            if let w = bundle.vocabularyWarning(embeddingRows: embeddingRows) { print("            warning: \(w)") }
        } else if let error {
            print("tokenizer   unreadable: \(error.description)")
        } else {
            print("tokenizer   none (no tokenizer.json or tokenizer.model)")
        }
    }
}

/// Loads the tokenizer of `path` for `inspect`; a broken tokenizer is reported, not thrown (the weights may be fine).
func inspectTokenizer(path: String, embeddingRows: Int?) throws -> TokenizerInspection {
    let files = try tokenizerFiles(of: path)
    guard files.hasTokenizer else { return TokenizerInspection(embeddingRows: embeddingRows) }
    do { return TokenizerInspection(bundle: try TokenizerBundle(files: files), embeddingRows: embeddingRows) } catch let e as BFFNError {
        return TokenizerInspection(error: e, embeddingRows: embeddingRows)
    }
}

/// The context length, rope settings and chat template of the model at `path` (a pack: its carried
/// tokenizer_config.json and chat_template.jinja; a checkpoint: the files beside it).
func inspectContext(path: String, config: ModelConfig) throws -> ContextInspection {
    let files = try tokenizerFiles(of: path)
    let hasTemplateFile: Bool
    if PackFile.isPack(path: path) {
        hasTemplateFile = try PackFile(path: path).attachments.contains { $0.name == "chat_template.jinja" }
    } else {
        var info = stat()
        hasTemplateFile = stat(modelFolder(of: path) + "/chat_template.jinja", &info) == 0
    }
    return ContextInspection(config: config, tokenizerConfig: files.files["tokenizer_config.json"], hasTemplateFile: hasTemplateFile)
}

/// `doc` with `members` appended (objects only).
func adding(_ members: [(String, JSONValue)], to doc: JSONValue) -> JSONValue {
    guard case .object(var all) = doc else { return doc }
    for (key, value) in members { all.append(JSONMember(key, value)) }
    return .object(all)
}
