import BFFNCheckpoint
import BFFNCore
import BFFNInspect
import BFFNModel
import BFFNPack
import BFFNTokenizer

/// What `bffn inspect` says about a pack, a checkpoint or an EAGLE draft head: one JSON document and the text.
public struct ModelInspection: Sendable {
    /// `bffn inspect --json` (docs/json.md, "inspect").
    public let json: JSONValue
    /// The text `bffn inspect` prints, without and with the table of every tensor.
    public let text: String, textWithTensors: String
    /// The model could not be recognised though the file is readable: the summary stands, the command exits 1.
    public let recognitionError: BFFNError?

    /// Inspects `path` (a .bfpk pack, a .safetensors or .bin file, a shard index, a checkpoint folder, or ORG/NAME
    /// in the Hugging Face cache). With `check`, every byte is read and every checksum verified on `threads`
    /// threads; `progress` hears what is being done.
    /// - Throws: the readers' errors naming file, field and offset; `.checksumMismatch` with `check`.
    public init(path given: String, check: Bool = false, threads: Int = WorkerPool.usableCPUs, progress: ((String) -> Void)? = nil) throws {
        let path = try HubCache.resolve(given)
        if PackFile.isPack(path: path) {
            let pack = try PackFile(path: path)
            let report = PackInspectionReport(pack: pack)
            if let e = report.draftHeadError { throw e }
            if check {
                progress?("checking every CRC-32 of the pack")
                try pack.verifyChecksums()
            }
            let files = try ModelFiles.tokenizerFiles(of: path)
            let tokenizer = try Self.tokenizerSummary(files, embeddingRows: pack.config.vocabSize)
            let context = Self.context(path: path, files: files, config: pack.config)
            var doc = report.json
            if check { doc = doc.appending("check", .object([("passed", true)])) }
            json = Self.adding([("tokenizer", tokenizer.json)] + context.jsonMembers, to: doc)
            let tail = context.textLines + tokenizer.lines + (check ? ["check       every header, manifest, tensor, expert block and attachment CRC-32 matched"] : [])
            text = ([report.text(includeTensors: false)] + tail).joined(separator: "\n")
            textWithTensors = ([report.text(includeTensors: true)] + tail).joined(separator: "\n")
            recognitionError = nil
            return
        }
        let checkpoint = try Checkpoint(path: path)
        if EagleHead.recognizes(checkpoint) {
            let head = DraftHeadInspection(head: try EagleHead(checkpoint: checkpoint), vocabularies: DraftHeadInspection.frequencyLists(in: ModelFiles.folder(of: path)), carried: false)
            json = head.document(format: checkpoint.format.rawValue, files: checkpoint.filePaths)
            text = ["format      \(checkpoint.format.rawValue) (\(checkpoint.filePaths.joined(separator: ", ")))", head.line,
                    "note        a draft head, not a model: bffn generate/verify/bench MODEL --speculative eagle:\(given) drafts with it"].joined(separator: "\n")
            textWithTensors = text
            recognitionError = nil
            return
        }
        let report = InspectionReport(checkpoint: checkpoint)
        if check { progress?("reading every byte on \(threads) thread\(threads == 1 ? "" : "s")") }
        let read = check ? try checkpoint.readEveryTensor(threads: threads) : nil
        let files = try ModelFiles.tokenizerFiles(of: path)
        let tokenizer = try Self.tokenizerSummary(files, embeddingRows: checkpoint.config.vocabSize)
        let context = Self.context(path: path, files: files, config: checkpoint.config)
        var doc = report.json
        if let read { doc = doc.appending("check", read.json) }
        json = Self.adding([("tokenizer", tokenizer.json)] + context.jsonMembers, to: doc)
        var tail = context.textLines + tokenizer.lines
        if let read {
            let crc = checkpoint.format == .pytorch ? ", every zip CRC-32 matched" : ""
            tail.append("check       read \(read.bytes) bytes of \(read.tensors) tensors in \(String(Int(read.seconds * 1000))) ms (\(TextNumber.fixed(read.gigabytesPerSecond, 2)) GB/s)\(crc)")
        }
        text = ([report.text(includeTensors: false)] + tail).joined(separator: "\n")
        textWithTensors = ([report.text(includeTensors: true)] + tail).joined(separator: "\n")
        recognitionError = report.recognitionError
    }

    /// The tokenizer carried in a pack or found beside a checkpoint: its summary, or why it is unreadable (a broken
    /// tokenizer is reported, not thrown: the weights may be fine).
    static func tokenizerSummary(_ files: TokenizerFiles, embeddingRows: Int?) throws -> (json: JSONValue, lines: [String]) {
        guard files.hasTokenizer else { return (.null, ["tokenizer   none (no tokenizer.json or tokenizer.model)"]) }
        do {
            let bundle = try TokenizerBundle(files: files)
            var lines = ["tokenizer   \(bundle.summaryLine())"]
            if let w = bundle.vocabularyWarning(embeddingRows: embeddingRows) { lines.append("            warning: \(w)") }
            return (bundle.summaryJSON(embeddingRows: embeddingRows), lines)
        } catch let e as BFFNError {
            return (.object([("error", .string(e.description))]), ["tokenizer   unreadable: \(e.description)"])
        }
    }

    /// The context length, rope settings and chat template of the model at `path` (a pack: its carried
    /// tokenizer_config.json and chat_template.jinja; a checkpoint: the files beside it).
    static func context(path: String, files: TokenizerFiles, config: ModelConfig) -> ContextInspection {
        let hasTemplateFile: Bool
        if PackFile.isPack(path: path) {
            // A pack's chat_template.jinja attachment is among the tokenizer files read from it.
            hasTemplateFile = files.files["chat_template.jinja"] != nil
        } else {
            var info = stat()
            hasTemplateFile = stat(ModelFiles.folder(of: path) + "/chat_template.jinja", &info) == 0
        }
        return ContextInspection(config: config, tokenizerConfig: files.files["tokenizer_config.json"], hasTemplateFile: hasTemplateFile)
    }

    /// `doc` with `members` appended (objects only).
    static func adding(_ members: [(String, JSONValue)], to doc: JSONValue) -> JSONValue {
        guard case .object(var all) = doc else { return doc }
        for (key, value) in members { all.append(JSONMember(key, value)) }
        return .object(all)
    }
}
