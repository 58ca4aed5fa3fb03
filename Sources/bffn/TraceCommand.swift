import ArgumentParser
import BFFNCore
import BFFNDeploy
import BFFNModel
import BFFNTokenizer

/// `bffn trace MODEL --text F -o TRACE` records routing; `bffn trace --simulate TRACE --budget B` replays it
/// against expert-cache policies.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Record which experts every token uses, and replay that against expert-cache policies.",
        discussion: """
        Recording: runs MODEL over --prompts (token ids, or text whose paragraphs are sequences), --prompt-ids or --text (a text \
        cut into windows of --context tokens) and writes, per token and layer, every expert's router score (0: \
        inactive) into a safetensors file (formats/trace.md).

        Simulating: replays a trace token by token, layer by layer, through a cache of expert blocks that holds \
        --budget (bytes, with k/M/G suffixes, or a percentage of all expert bytes) and reports, for each policy \
        (LRU, LFU, the hottest half pinned with LRU for the rest, and Belady's optimum as the bound), the hit \
        rate and the bytes read per token: the analysis to make before deciding whether a cache can work.

        Examples:
          bffn trace fixtures/trained --text fixtures/trained/heldout.txt -o trace.safetensors
          bffn trace --simulate trace.safetensors --budget 50% --json
        """
    )

    @Argument(help: "The model to trace (a pack or a checkpoint); not with --simulate.", completion: .file())
    var model: String?

    @OptionGroup var input: SequenceInputOptions

    @Option(help: "Window length in tokens for --text and the longest prompt (default: 512 or the model's context).")
    var context: Int?

    @Option(name: [.short, .customLong("output")], help: "The trace file to write.", completion: .file())
    var output: String?

    @Option(help: ArgumentHelp("A trace to replay instead of recording one.", valueName: "trace"), completion: .file())
    var simulate: String?

    @Option(help: "The cache size for --simulate: bytes (e.g. 8M) or a percentage of all expert bytes (e.g. 50%); several comma-separated.")
    var budget: String = "50%,25%"

    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        if simulate != nil {
            guard model == nil, input.isEmpty, output == nil else { throw ValidationError("--simulate takes a trace only: no model, prompts, text or output") }
            _ = try budgets(totalExpertBytes: 1)
        } else {
            guard model != nil, output != nil else { throw ValidationError("give a model and -o TRACE (or --simulate TRACE)") }
            guard (input.prompts == nil && input.promptIds == nil) != (input.text == nil) else { throw ValidationError("give exactly one of --prompts, --prompt-ids and --text") }
        }
        if let c = context, c < 2 || c > 1 << 20 { throw ValidationError("--context must be 2...1048576") }
    }

    /// The budgets in bytes, in the order given.
    func budgets(totalExpertBytes: Int) throws -> [(label: String, bytes: Int)] {
        try budget.split(separator: ",").map { item in
            let s = item.trimmingSpaces()
            if s.hasSuffix("%"), let p = Double(s.dropLast()), p >= 0, p <= 100 { return (s, Int(Double(totalExpertBytes) * p / 100)) }
            if let v = TextNumber.parseByteCount(s), v <= UInt64(Int.max) { return (s, Int(v)) }
            throw ValidationError("--budget takes bytes (8M, 65536) or a percentage (50%), not '\(s)'")
        }
    }

    func run() throws {
        try printing.run {
            if let simulate { return try runSimulation(simulate) }
            let model = try HubCache.resolve(self.model!)
            let weights = try ModelWeights.open(path: model)
            let window = min(context ?? 512, weights.config.maxPositionEmbeddings ?? (1 << 20))
            let sequences: [[Int]]
            if let (ids, _) = try input.textIds(model: model, weights: weights, tokenizing: tokenizing) {
                sequences = stride(from: 0, to: ids.count, by: window).map { Array(ids[$0..<min(ids.count, $0 + window)]) }
            } else {
                sequences = try input.promptList(model: model, weights: weights, tokenizing: tokenizing, maxLength: window) ?? []
            }
            let progress = ProgressReporter(label: "trace", options: printing)
            progress.note("running \(sequences.count) sequences")
            let trace = try RoutingTrace.record(weights: weights, sequences: sequences, threads: threading.threads, model: model)
            try trace.write(to: output!, overwrite: overwriting.force)
            progress.finish()
            if printing.json {
                printing.emit(trace.json(output: output!))
            } else {
                print("wrote \(output!): \(trace.tokenCount) tokens in \(trace.sequenceStarts.count) sequences, \(trace.layers) layers x \(trace.experts) experts of \(TextNumber.bytesWithSize(UInt64(trace.expertBytes)))")
            }
        }
    }

    func runSimulation(_ path: String) throws {
        let trace = try RoutingTrace(path: path)
        let report = ExpertCacheSimulator.Report(path: path, trace: trace, budgets: try budgets(totalExpertBytes: trace.layers * trace.experts * trace.expertBytes))
        if printing.json { printing.emit(report.json) } else { print(report.text, terminator: "") }
    }
}

private extension Substring {
    /// Without leading and trailing spaces.
    func trimmingSpaces() -> String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
