import ArgumentParser
import BFFNCalibration
import BFFN
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack

/// `bffn calibrate MODEL --text FILE -o stats.safetensors`: activation statistics for the quantizer.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Gather activation statistics (mean squared input per column of every multiplied matrix) for convert --imatrix.",
        discussion: """
        Runs the model (float32 activations, the reference path) over the text, cut into windows of --context \
        tokens, and records per multiplied matrix the mean of x² per input column over the tokens that reach it: \
        an expert's up projection from exactly the tokens that activate it, its down projection from its gated \
        intermediate activations, plus the tokens per expert. Experts seen on few tokens are blended with the \
        layer's average (a prior worth --prior-tokens tokens) and listed. Deterministic: the same model, text and \
        options give the same file, byte for byte (formats/calibration.md).

        Examples:
          bffn calibrate fixtures/trained --text fixtures/trained/calibration.txt -o stats.safetensors
          bffn convert fixtures/trained -o m.bfpk --quant q4 --imatrix stats.safetensors
          bffn calibrate fixtures/trained --text fixtures/trained/calibration.txt --sensitivity --per-layer \
            --sensitivity-quant q4k --imatrix stats.safetensors --plot sensitivity.png
        """
    )

    @Argument(help: "The model (checkpoint folder, file, or .bfpk).", completion: .file())
    var model: String

    @Option(parsing: .singleValue, help: ArgumentHelp("A text file to calibrate on (repeatable; encoded with the model's tokenizer).", valueName: "file"),
            completion: .file())
    var text: [String] = []

    @Option(name: .shortAndLong, help: "The statistics file to write (.safetensors).", completion: .file())
    var output: String?

    @Flag(help: "Instead of statistics: quantize each tensor class alone (--sensitivity-quant, the rest as the source) and report the KL divergence that alone causes on the first --text against the source, most sensitive first.")
    var sensitivity = false

    @Flag(help: "With --sensitivity: measure each layer's class apart (attention@0, attention@1, ...) and the experts' up and down projections apart (experts have one storage in every layer).")
    var perLayer = false

    @Option(help: "With --sensitivity: the storage each class is given in turn (default q4: 4-bit groups of 32, importance-weighted).")
    var sensitivityQuant: StorageType = try! StorageType(parsing: "q4")

    @Option(help: ArgumentHelp("With --sensitivity: calibration statistics (from bffn calibrate -o) that weight the rounding.", valueName: "stats"), completion: .file())
    var imatrix: String?

    @Option(help: ArgumentHelp("With --sensitivity: also draw the KLD per class as a bar chart into this PNG file.", valueName: "png"), completion: .file())
    var plot: String?

    @Option(help: "Window length in tokens (default: 512 or the model's context, whichever is smaller).")
    var context: Int?

    @Option(help: "Strength of the prior an expert's statistics are blended with, in tokens (default 32).")
    var priorTokens: Int = Calibrator.defaultPriorTokens

    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard !text.isEmpty else { throw ValidationError("give at least one --text FILE") }
        guard sensitivity || output != nil else { throw ValidationError("give -o STATS (or --sensitivity)") }
        guard sensitivity || (imatrix == nil && plot == nil && !perLayer) else { throw ValidationError("--imatrix, --plot and --per-layer go with --sensitivity") }
        if let c = context, c < 4 || c > 1 << 20 { throw ValidationError("--context must be 4...1048576") }
        guard priorTokens >= 0 else { throw ValidationError("--prior-tokens must be >= 0") }
    }

    func run() throws {
        try printing.run {
            if sensitivity { return try runSensitivity() }
            let output = self.output!
            let source = try HubCache.resolve(model)
            if !overwriting.force, access(output, F_OK) == 0 {
                throw BFFNError(.outputExists, "exists; pass --force to replace it", file: output)
            }
            let weights = try ModelWeights.open(path: source)
            let bundle = try tokenizing.load(model: source)
            let limit = weights.config.maxPositionEmbeddings ?? 1 << 20
            let ctx = context ?? min(512, limit)
            var windows: [[Int]] = []
            for file in text {
                let ids = try bundle.encode(String(decoding: MappedFile(path: file).contents, as: UTF8.self))
                if let bad = ids.first(where: { $0 >= weights.architecture.vocabSize }) {
                    throw BFFNError(.shapeMismatch, "the tokenizer gives id \(bad), beyond the model's vocabulary of \(weights.architecture.vocabSize)", file: file)
                }
                windows += Calibrator.windows(ids, context: ctx, bos: bundle.addBos ? bundle.bosId : nil)
            }
            var options = EngineOptions(threads: threading.threads)
            options.activations = .float
            let engine = try Engine(weights: weights, options: options)
            let progress = ProgressReporter(label: "calibrate", options: printing, unit: .items("windows"))
            let stats = try Calibrator.run(engine, windows: windows, priorTokens: priorTokens,
                                           sources: text.map { String($0.split(separator: "/").last ?? "") }) {
                progress.update(UInt64($0), UInt64($1))
            }
            progress.finish()
            try stats.write(to: output, overwrite: overwriting.force)
            if printing.json {
                printing.emit(stats.json.appending("output", .string(output)))
                return
            }
            print("wrote \(output): \(stats.dense.count) dense matrices and \(stats.expertLayers.count) layers of experts from \(stats.tokens) tokens in \(stats.sequences) windows")
            let low = stats.underCalibrated
            if low.isEmpty {
                print("  every expert saw at least \(stats.priorTokens) tokens")
            } else {
                print("  \(low.count) expert(s) saw fewer than \(stats.priorTokens) tokens and lean on the layer's average (prior of \(stats.priorTokens) tokens):")
                for l in Dictionary(grouping: low, by: \.layer).keys.sorted() {
                    let items = low.filter { $0.layer == l }.map { "\($0.expert) (\($0.tokens))" }
                    print("    layer \(l): " + items.joined(separator: ", "))
                }
            }
        }
    }

    /// --sensitivity: one pack per class in a temporary folder, verified on the first --text.
    func runSensitivity() throws {
        let base = ProcessEnvironment.variables["TMPDIR"] ?? "/tmp"
        var template = Array((base + "/bffn-sensitivity-XXXXXX").utf8CString)
        guard let folder = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw BFFNError(.io, "cannot create a temporary folder", file: base)
        }
        defer { _ = rmdir(folder) }
        let progress = ProgressReporter(label: "sensitivity", options: printing)
        let statistics = try imatrix.map { try ActivationStatistics(path: $0) }
        let analysis = try SensitivityAnalysis(model: model, textFile: text[0], low: sensitivityQuant, statistics: statistics, perLayer: perLayer, workFolder: folder,
                                               threads: threading.threads) { progress.note($0) }
        progress.finish()
        if let plot { try writeFileAtomically(plot, analysis.picture()) }
        if printing.json { printing.emit(analysis.json.appending("plot", plot.map { .string($0) } ?? .null)) } else { print(analysis.text, terminator: "") }
    }
}
