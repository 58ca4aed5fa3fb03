import ArgumentParser
import BFFNPlot
import BFFNPack
import BFFNModel
import BFFNCore
import BFFNExpertStreaming
import BFFNSpeculative
import BFFNTokenizer
import BFFNVerify

/// `bffn verify MODEL --reference REF`: compares a model with reference outputs or another model.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a model computes what its reference computes.",
        discussion: """
        REF is a reference file (safetensors with input_ids, logits and optionally greedy_ids and router_l{i}, \
        the schema of fixtures/reference/*/reference.safetensors) or another model (checkpoint or .bfpk), for \
        example the source of a conversion, run here on the same prompts.

        Reports per prompt and overall: max |logit error|, mean and max KL divergence (reference to model), \
        top-1 agreement, top-5 overlap, logit NMSE in dB, greedy-continuation match and where it diverges, router \
        agreement (Jaccard of active experts), the first layer whose hidden state diverges (two models), a \
        pack's checksums, speculative decoding (must reproduce greedy decoding exactly) and sparsity statistics.

        Prompts (against a reference model): --prompt-ids or --prompts; otherwise four built-in prompts. --text \
        FILE also measures the perplexity of both models on the text and their KL divergence per token (mean, \
        median, 99 %, 99.9 %, max, same top-1) over windows of --context tokens; --text alone scores only the text.

        Pass thresholds depend on the quantization class (README, `bffn verify`): exact (same storage as \
        the reference: identical logits and greedy output), reference (a reference file: mean KLD <= 1e-4, \
        top-1 >= 99 %, greedy match), cast (mean KLD <= 2e-3, top-1 >= 97 %), q8 (5e-3, 95 %), q4 (5e-2, 80 %).

        Exit status: 0 passed, 1 failed (or unreadable input), 2 usage error.

        Examples:
          bffn verify fixtures/reference/mla-block-rms-bf16 --reference fixtures/reference/mla-block-rms-bf16/reference.safetensors
          bffn verify out/model-q8.bfpk --reference model/ --speculative draft:out/model-q4.bfpk --tree 2x4
          bffn verify out/model.bfpk --reference model/ --prompts prompts.txt --max-new-tokens 64 --json
        """
    )

    @Argument(help: "The model to check: a .bfpk pack or a checkpoint.", completion: .file())
    var model: String

    @Option(help: "A reference file (reference.safetensors schema) or a reference model.", completion: .file())
    var reference: String

    @OptionGroup var input: SequenceInputOptions

    @Option(help: "Chunk length of the chunk sparsification loss reported with the sparsity (the paper trains with 64; the bundled model with 8).")
    var objectiveChunk: Int = 8

    @Option(help: "Window length in tokens for --text (default: 512 or the model's context, whichever is smaller).")
    var context: Int?

    @Option(name: [.customShort("n"), .long], help: "Greedy tokens compared per prompt (default: the reference file's greedy length, or 16).")
    var maxNewTokens: Int?

    @Option(help: "Override the mean KL divergence limit (nats per position).")
    var maxKld: Double?

    @Option(help: "Override the top-1 agreement limit (0...1).")
    var minTop1: Double?

    @OptionGroup var drafting: DraftOptions
    @OptionGroup var numerics: NumericsOptions

    @Option(help: ArgumentHelp("Also write pictures of the model's routing over the verified prompts into this folder (as bffn plot does).", valueName: "dir"))
    var plots: String?

    @OptionGroup var memory: MemoryBudgetOptions
    @OptionGroup var skillCard: SkillCardOptions
    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard objectiveChunk >= 1 && objectiveChunk <= 4096 else { throw ValidationError("--objective-chunk must be 1...4096") }
        if let c = context, c < 4 || c > 1 << 20 { throw ValidationError("--context must be 4...1048576") }
        if let n = maxNewTokens, n < 0 || n > 100_000 { throw ValidationError("--max-new-tokens must be 0...100000") }
        if let k = maxKld, !(k >= 0) { throw ValidationError("--max-kld must be >= 0") }
        if let t = minTop1, !(t >= 0 && t <= 1) { throw ValidationError("--min-top1 must be in 0...1") }
    }

    func run() throws {
        try printing.run {
            var options = VerifyOptions()
            options.maxNewTokens = maxNewTokens
            options.maxMeanKLD = maxKld
            options.minTop1 = minTop1
            options.threads = threading.threads
            options.objectiveChunkLength = objectiveChunk
            options.adaptiveDrafting = !drafting.fixedDraft
            options.activations = numerics.activations
            options.kvCache = numerics.kvCache
            options.drafter = drafting.drafter(default: .ngram)
            options.draftShape = try drafting.shape(for: options.drafter)
            let progress = ProgressReporter(label: "verify", options: printing, unit: .items("positions"))
            if progress.enabled || progress.verbose {
                options.progress = { progress.note($0) }
                options.positionsDone = { progress.update(UInt64($0), UInt64($1)) }
            }
            let model = try HubCache.resolve(self.model), reference = try HubCache.resolve(self.reference)
            if let found = try skillCard.layer(at: model) {
                // A skill-card layer against a layer-forward reference.
                guard LayerVerification.isLayerReference(path: reference) else {
                    throw BFFNError(.usage, "a skill-card layer is verified against a layer reference (hidden_states, outputs, gates)", file: reference)
                }
                let r = try LayerVerification.run(layer: found.layer, referencePath: reference)
                if printing.json { printing.emit(r.json) } else { print(r.text, terminator: "") }
                if !r.passed { throw ExitCode(1) }
                return
            }
            // --text alone scores the text only, not the built-in prompts as well.
            var promptList: [[Int]]? = input.prompts == nil && input.promptIds == nil && input.text != nil && !ReferenceFile.isReference(path: reference) ? [] : nil
            if !input.isEmpty {
                let weights = try ModelWeights.open(path: model)
                let limit = weights.config.maxPositionEmbeddings ?? 1 << 20
                if let list = try input.promptList(model: model, weights: weights, tokenizing: tokenizing, maxLength: min(limit, 512)) { promptList = list }
                if let (ids, bundle) = try input.textIds(model: model, weights: weights, tokenizing: tokenizing) {
                    options.text = ids
                    options.textContext = context ?? min(512, limit)
                    options.textBos = bundle.addBos ? bundle.bosId : nil
                }
            }
            let box = CacheBox()
            let memory = self.memory
            options.configureModel = { engine in box.cache = try memory.attach(to: engine, model: model) }
            let report = try Verifier.run(modelPath: model, referencePath: reference, prompts: promptList, options: options)
            if let plots {
                progress.note("drawing routing pictures into \(plots)")
                let weights = try ModelWeights.open(path: model)
                let file = ReferenceFile.isReference(path: reference) ? try ReferenceFile(path: reference) : nil
                let prompts = Verifier.prompts(file: file, given: promptList, vocabularySize: weights.architecture.vocabSize)
                _ = try RoutingPlots.write(RoutingPlots.Trace(weights: weights, prompts: prompts, threads: threading.threads), to: plots)
            }
            progress.finish()
            if printing.json {
                var json = report.json
                if case .object(var members) = json {
                    members.append(JSONMember("memory", box.cache.map { $0.report(tokens: report.logits.positions).json } ?? .null))
                    json = .object(members)
                }
                printing.emit(json)
            } else {
                print(report.text, terminator: "")
                if let cache = box.cache { print("  " + cache.report(tokens: report.logits.positions).text) }
            }
            if !report.passed { throw ExitCode(1) }
        }
    }
}

/// The speculative-decoding options `generate`, `verify` and `bench` share.
struct DraftOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Speculative decoding drafter: ngram, draft:PATH, eagle:PATH, eagle or none (generate's and bench's default: none; verify's: ngram).",
                               discussion: "draft:PATH is a smaller model of the same vocabulary; eagle:PATH an EAGLE draft head (a folder in the published layout, or a pack carrying one); eagle alone the head the model's pack carries."),
            transform: DraftOptions.parseDrafter)
    var speculative: DrafterChoice?

    @Option(help: "Draft chain length (1...32).")
    var draftTokens: Int = 8

    @Option(help: "Draft tree WIDTHxDEPTH (top-WIDTH children per node, at most \(DraftShape.eagle.maxNodes) nodes), instead of a chain.")
    var tree: String?

    @Option(help: "Nodes of a dynamic draft tree, the root included (2...\(DraftShape.nodeLimit + 1); EAGLE's default \(DraftShape.eagle.maxNodes + 1)).")
    var treeSize: Int?

    @Option(help: "Levels of a dynamic draft tree below the root (EAGLE's num_iter; default \(DraftShape.eagle.depth)).")
    var draftDepth: Int?

    @Option(help: "Children kept per expanded node and nodes expanded per level of a dynamic draft tree (EAGLE's top-k; default \(DraftShape.eagle.width)).")
    var draftTopk: Int?

    @Option(help: "With eagle:FOLDER: draft in the N most frequent tokens, read from FOLDER/freq_N.pkl (default: every token).")
    var draftVocab: Int?

    @Flag(help: "Verify the drafter's whole draft at every step instead of adapting the draft size to the costs and acceptance measured in the run (adaptive drafting stops drafting when it does not pay; it applies to greedy decoding: sampling with --temperature always drafts the whole shape, so that --seed reproduces the text).")
    var fixedDraft = false

    /// `--speculative`'s value, parsed once by the argument parser: its reason becomes the usage error (exit 2).
    static func parseDrafter(_ text: String) throws -> DrafterChoice {
        do { return try DrafterChoice.parse(text) } catch let e as BFFNError { throw ValidationError(e.reason) }
    }

    func validate() throws {
        let choice = drafter(default: .none)
        _ = try shape(for: choice)
        if draftVocab != nil {
            guard case .eagle = choice else { throw ValidationError("--draft-vocab applies to an EAGLE head (--speculative eagle:PATH)") }
        }
    }

    /// The drafter asked for (with `--draft-vocab`), or `fallback`.
    func drafter(default fallback: DrafterChoice) -> DrafterChoice {
        guard let speculative else { return fallback }
        return speculative.withDraftVocabulary(draftVocab)
    }

    /// The draft shape: `--tree`, else a dynamic tree when an EAGLE head drafts or --tree-size / --draft-depth /
    /// --draft-topk are given (defaults `DraftShape.eagle`: 32 / 3 / 10), else a chain of `--draft-tokens`.
    func shape(for choice: DrafterChoice) throws -> DraftShape {
        do {
            return try DraftShape.chosen(for: choice, tree: tree, treeSize: treeSize, depth: draftDepth, topK: draftTopk, chainTokens: draftTokens)
        } catch let e as BFFNError { throw ValidationError(e.reason) }
    }
}

/// Holds the expert cache the verification's engine gets, so the report can show its figures afterwards.
final class CacheBox: @unchecked Sendable {
    var cache: ExpertCache?
}
