import ArgumentParser
import BFFN
import BFFNCore
import BFFNModel
import BFFNPack
import BFFNTokenizer
import BFFNDeploy

/// `bffn pack SRC -o OUT.bfpk --profile NAME|FILE`: a verified pack for one device.
struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a checkpoint for a device: calibrated, hot-first, within its memory budget, verified.",
        discussion: """
        1. Calibration: runs the engine over calibration sequences (--calibration FILE: one comma-separated id list \
        per line, or plain text whose paragraphs are the sequences, encoded with the model's tokenizer; default: \
        the model's own prompts.txt or heldout.txt beside a checkpoint that has a tokenizer, else a built-in \
        synthetic workload of 8 x 64 tokens) and counts how often each expert fires and which fire together. \
        Every fourth sequence is held back for step 4. The report names the calibration used.
        2. Layout: each layer's experts are stored most-used first (router rows and router-norm weights with \
        them); when the profile's resident budget cannot hold everything, the dense weights and the hottest \
        experts of every layer form a resident prefix of the file and the rest a streamed section.
        3. Conversion with the profile's storage per tensor class and page alignment; --attach files travel inside.
        4. Verification of the written pack against SRC on the held-back sequences (thresholds of `bffn verify`, \
        speculative output included). A pack that fails is deleted and nothing appears under OUT.
        5. The deployment report: bytes resident and streamed, expected bytes per token and per 8- and 32-token \
        chunk at the measured sparsity, the tokens/s those imply at the profile's bandwidth, and `bffn bench` of the \
        pack on this machine.

        Profiles: orin-nx-16g, phone-8g, cpu, or a JSON file (formats/profiles.md).
        Exit status: 0 written, 1 failed (bad input, budget too small, verification failed; nothing written), 2 usage.

        Examples:
          bffn pack fixtures/reference/mla-blocklinear-rms-bf16-bin -o out/model-orin.bfpk --profile orin-nx-16g
          bffn pack model/ -o model-phone.bfpk --profile phone-8g --calibration calib.txt --attach tokenizer.json --json
          bffn pack model/ -o model-dev.bfpk --profile my-device.json --force
        """
    )

    @Argument(help: "The source checkpoint (folder, .safetensors, .bin or shard index).", completion: .file())
    var source: String

    @Option(name: [.short, .customLong("output")], help: "The pack to write (.bfpk).")
    var output: String

    @Option(help: ArgumentHelp("A built-in profile or a profile JSON file (a path with a / or ending in .json; formats/profiles.md).", valueName: "name|file"))
    var profile: ProfileArgument

    @Option(help: ArgumentHelp("Calibration sequences: one comma-separated id list per line, or plain text whose paragraphs are the sequences (encoded with the model's tokenizer) (default: prompts.txt or heldout.txt beside a checkpoint with a tokenizer, else a built-in synthetic workload).", valueName: "file"),
            completion: .file())
    var calibration: String?

    @Option(help: "A file to store inside the pack (repeatable).")
    var attach: [String] = []

    @Option(help: "A stricter mean KL divergence limit for the verification (nats per position).")
    var maxKld: Double?

    @Option(help: "A stricter top-1 agreement limit for the verification (0...1).")
    var minTop1: Double?

    @Flag(help: "Skip measuring the pack on this machine.")
    var noBench = false

    @OptionGroup var carrying: TokenizerCarryOptions
    @OptionGroup var drafting: DraftHeadOptions
    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        if let k = maxKld, !(k >= 0) { throw ValidationError("--max-kld must be >= 0") }
        if let t = minTop1, !(t >= 0 && t <= 1) { throw ValidationError("--min-top1 must be in 0...1") }
    }

    func run() throws {
        try printing.run {
            var options = PackOptions(profile: try profile.load())
            let source = try HubCache.resolve(self.source)
            // The file given, else the model's own text (when its tokenizer can encode it), else the built-in workload.
            var calibrationFile = calibration
            if calibrationFile == nil, !PackFile.isPack(path: source), let text = DevicePacker.modelText(in: ModelFiles.folder(of: source)),
               (try? ModelFiles.tokenizerFiles(of: source).hasTokenizer) == true || tokenizing.tokenizer != nil {
                calibrationFile = text
            }
            if let c = calibrationFile {
                let weights = try ModelWeights.open(path: source)
                options.calibration = try readPromptFile(c, model: source, weights: weights, tokenizing: tokenizing)
                options.calibrationName = String(c.split(separator: "/").last ?? "") + (calibration == nil ? " (beside the model)" : "")
            }
            let (attachments, carried) = carrying.attachments(source: source, explicit: attach)
            options.attachments = attachments
            options.draftHead = drafting.draftHead
            options.draftVocabularySize = drafting.draftVocab
            carrying.report(carried, printing: printing)
            options.overwrite = overwriting.force
            options.threads = threading.threads
            options.benchmark = !noBench
            options.maxMeanKLD = maxKld
            options.minTop1 = minTop1
            let progress = ProgressReporter(label: "pack", options: printing)
            if progress.enabled || progress.verbose {
                options.progress = { progress.note($0) }
                options.conversionProgress = { progress.update($0, $1) }
            }
            let report = try DevicePacker.pack(source: source, output: output, options: options)
            progress.finish()
            if printing.json { printing.emit(report.json) } else { print(report.text, terminator: "") }
        }
    }
}
