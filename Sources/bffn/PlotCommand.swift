import ArgumentParser
import BFFNCore
import BFFNModel
import BFFNPack
import BFFNPlot
import BFFNTokenizer
import BFFNVerify

/// `bffn plot MODEL --prompts FILE -o DIR`: pictures of a model's routing.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a model's routing as PNG images: heatmaps, chunk-level sparsity, expert use.",
        discussion: """
        Runs the prompts through the model and writes into DIR: heatmap-layer-NN.png (experts x tokens of the first \
        prompt, white where an expert is inactive, deeper blue for larger router scores), chunk-sparsity.png (CLS_L \
        against L = 1 ... 64, one line per layer, the mean in black, the paper's CLS8 as a red square), \
        expert-frequency.png (each expert's share of tokens per layer, most used first: the order bffn pack stores \
        them in) and active-experts.png (tokens per number of active experts, per layer).

        Prompts: --prompts FILE (one comma-separated id list per line, or text whose paragraphs are the prompts), --prompt-ids, or --text FILE (encoded with the model's \
        tokenizer.json, from the pack or beside the checkpoint, and cut into windows of 128 tokens, at most 8), \
        else MODEL/workload.txt when MODEL is a folder that has one (bffn synth writes it), else MODEL/prompts.txt \
        when the folder has one (the model's own prompts, as fixtures/trained has: id lists, or text whose \
        paragraphs are the prompts), else the four built-in prompts of bffn verify. Where the model has a tokenizer, \
        the heatmaps' columns are labelled with the tokens (their vocabulary pieces, "_" for a word start), else \
        with their index.

        --verify-report FILE (repeatable) draws kld-size.png instead, or beside the routing pictures when a model is \
        given: each report of `bffn verify --json` one point, its bits per weight across and its mean KLD up (log \
        scale; the text's with --text, else the prompts'), labelled with the model's file name: the size-quality \
        curve of several quantized versions of one model.

        Examples:
          bffn plot fixtures/reference/mla-blocklinear-rms-bf16-bin -o /tmp/plots
          bffn plot /tmp/small --prompts /tmp/small/workload.txt -o /tmp/small-plots --json
          bffn plot --verify-report q8.json --verify-report q4.json --verify-report q4_k_m.json -o /tmp/quality
        """
    )

    @Argument(help: "A .bfpk pack or a checkpoint (folder, .safetensors, .bin or shard index); optional with --verify-report.", completion: .file())
    var model: String?

    @Option(name: .customLong("verify-report"), help: ArgumentHelp("A `bffn verify --json` report (repeatable): one point of kld-size.png.", valueName: "file"),
            completion: .file())
    var verifyReports: [String] = []

    @OptionGroup var input: SequenceInputOptions

    @Option(name: .shortAndLong, help: "The folder to write the images into (created if needed).", completion: .file())
    var output: String

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        if model == nil && verifyReports.isEmpty { throw ValidationError("give a model, or --verify-report files") }
        if input.text != nil && (input.prompts != nil || input.promptIds != nil) { throw ValidationError("give --prompts, --prompt-ids or --text, not two") }
    }

    /// Windows a text is cut into, and how many at most.
    static let textWindow = 128, textWindows = 8

    func run() throws {
        try printing.run {
            var files: [String] = []
            let points = try verifyReports.map(Self.qualityPoint)
            if !points.isEmpty { files.append(try QualityCurve.write(points, to: output)) }
            guard let model = try self.model.map({ try HubCache.resolve($0) }) else {
                if printing.json {
                    printing.emit(QualityCurve.json(output: output, files: files, points: points))
                } else {
                    for f in files { print("wrote \(f)") }
                }
                return
            }
            let progress = ProgressReporter(label: "plot", options: printing)
            progress.note("loading \(model)")
            let weights = try ModelWeights.open(path: model)
            let V = weights.architecture.vocabSize
            let list: [[Int]]
            if let (ids, _) = try input.textIds(model: model, weights: weights, tokenizing: tokenizing) {
                list = stride(from: 0, to: min(ids.count, Self.textWindow * Self.textWindows), by: Self.textWindow).map {
                    Array(ids[$0..<min(ids.count, $0 + Self.textWindow)])
                }
            } else if let given = try input.promptList(model: model, weights: weights, tokenizing: tokenizing) {
                list = given
            } else if let workload = folderWorkload(of: model) {
                list = try TokenSequenceFile.read(path: workload, vocabularySize: V)
            } else if let own = Self.folderPrompts(of: model) {
                list = try SequenceInput.read(path: own, vocabularySize: V, maxLength: min(weights.config.maxPositionEmbeddings ?? 512, 512)) {
                    try tokenizing.load(model: model)
                }
            } else {
                list = Verifier.defaultPrompts(vocabularySize: V)
            }
            progress.note("running \(list.count) prompt(s)")
            let trace = try RoutingPlots.Trace(weights: weights, prompts: list, threads: threading.threads)
            progress.note("drawing")
            // The first prompt's tokens label the heatmaps where the model has a tokenizer.
            let labels = (try? tokenizing.load(model: model)).flatMap { bundle in
                list.first.map { $0.map { RoutingPlots.tokenLabel(bundle.tokenizer.token(of: $0) ?? "") } }
            }
            files += try RoutingPlots.write(trace, to: output, tokenLabels: labels)
            progress.finish()
            let stats = trace.statistics
            if printing.json {
                printing.emit(trace.json(output: output, files: files))
            } else {
                for f in files { print("wrote \(f)") }
                print("\(stats.tokens) tokens: TLS \(TextNumber.fixed(stats.tls, 3)), CLS8 \(stats.overall[8].map { TextNumber.fixed($0, 3) } ?? "-") (the paper reports about 0.70 for its trained models)")
            }
        }
    }

    /// A point of the size-quality curve from a `bffn verify --json` report: the model's file name, bits per weight,
    /// the text's mean KLD (the prompts' without a text).
    /// - Throws: the file's read and JSON errors; `.invalidJSON` naming the file and field a report lacks.
    static func qualityPoint(_ path: String) throws -> QualityCurve.Point {
        let report = try JSONValue.parse(readTextInput(path), file: path, what: "a verify report")
        guard let bits = report["bits_per_weight"]?.numberValue else {
            throw BFFNError(.invalidJSON, "not a bffn verify --json report with bits_per_weight", file: path, field: "bits_per_weight")
        }
        guard let kld = report["text"]?["kld_mean"]?.numberValue ?? report["mean_kld"]?.numberValue else {
            throw BFFNError(.invalidJSON, "the report has no mean KLD (text.kld_mean or mean_kld)", file: path, field: "mean_kld")
        }
        var name = report["model"]?.stringValue?.split(separator: "/").last.map(String.init) ?? path
        if name.hasSuffix(".bfpk") { name.removeLast(5) }
        return QualityCurve.Point(label: name, bitsPerWeight: bits, meanKLD: kld)
    }

    /// MODEL/prompts.txt when MODEL is a folder that has one.
    static func folderPrompts(of model: String) -> String? {
        var info = stat()
        let path = model + "/prompts.txt"
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? path : nil
    }
}
