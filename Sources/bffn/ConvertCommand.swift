import ArgumentParser
import BFFN
import BFFNCore
import BFFNTokenizer
import BFFNKernels
import BFFNModel
import BFFNPack

/// `bffn convert SRC -o OUT.bfpk`: write the chunk-aware packed format.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a checkpoint to the chunk-aware packed format (.bfpk).",
        discussion: """
        Each expert of each layer becomes one contiguous, aligned block (its up rows and its down weights), \
        dense tensors go to their own aligned section, and a json-c manifest carries the configuration, the \
        tensor and block tables with CRC-32s, the quantization error per tensor class and provenance \
        (formats/bfpk.md). Streaming, bounded memory, deterministic, atomic (never a partial file under OUT).

        --quant takes a recipe or a storage. Recipes: q4 (the default 4-bit recipe: experts q4k, attention and \
        embedding q8 per row, head q6k), q4_k_m (experts q4k, attention, embedding and head q8 per row), q3_k_m, q5_k_m \
        and q6_k (the same with experts q3k, q5k or q6k), q4-all (every class q4/g32, round-to-nearest scales: the old \
        --quant q4), q8 (every class q8 per row); the manifest records each tensor's storage and the rule that chose it. \
        Storages: f32|f16|bf16 cast weights (round to nearest even); q8/row, q8/gN store int8 with a scale per row \
        or group; q4/gN/asym|sym int4 in groups with scale and offset (or scale only); --group-size and \
        --symmetric qualify both; q4k int4 in super-blocks of 256 with 6-bit sub-block scales and mins (4.5 bits a \
        weight, rows a multiple of 32); q5k symmetric int5 in such super-blocks with 6-bit sub-block scales (5.25); q6k \
        symmetric int6 with 8-bit sub-block scales (6.3125); q3k int3 with a 5-bit scale and a mirror bit per 16 \
        (3.4375, rows a multiple of 16). q8/q4 group scales come from the importance-weighted search (--scale-search \
        weighted, the default except for q4-all), weighted by --imatrix statistics (bffn calibrate) where they \
        cover a matrix, else by x². Without --quant each tensor keeps its source dtype, and such a pack gives \
        logits bit-identical to the source. The router and \
        every norm always keep their source dtype; --override SCOPE=SCHEME sets a class (attention=q8), one expert \
        part (experts.down=q6k: every expert of every layer shares its two storages) or a class in some layers \
        (attention@0,5-6=q8; bffn calibrate --sensitivity --per-layer measures which); the narrowest scope decides, \
        then the later one. A tensor \
        whose rows the group size does not divide gets the largest supported group (128 ... 8, no larger than the one \
        asked for) that divides them, or q8 with one scale per row, and is listed in the output and the manifest; \
        --strict-groups refuses it instead (an error naming the tensor).

        Examples:
          bffn convert fixtures/reference/mla-blocklinear-rms-bf16-bin -o /tmp/model.bfpk
          bffn convert /tmp/xl -o /tmp/xl-f16.bfpk --quant f16 --align 16384 --attach tokenizer.json --force
          bffn calibrate fixtures/trained --text fixtures/trained/calibration.txt -o stats.safetensors
          bffn convert fixtures/trained -o m.bfpk --quant q4 --imatrix stats.safetensors
          bffn convert fixtures/trained -o m.bfpk --quant q4_k_m --override experts.up=q5k attention@1,3-4=q8
        """
    )

    @Argument(help: "The checkpoint to convert (folder, .safetensors, .bin or shard index).", completion: .file())
    var source: String

    @Option(name: .shortAndLong, help: "The output .bfpk path.", completion: .file())
    var output: String

    @Option(help: "A recipe (q4: experts q4k, attention and embedding q8, head q6k; q4_k_m: experts q4k, attention, embedding and head q8; q3_k_m, q5_k_m, q6_k: the same with experts q3k, q5k, q6k; q4-all: every class q4/g32, round-to-nearest; q8: every class q8 per row) or a storage for every class: f32, f16, bf16 (casts), q8/row, q8/gN, q4/gN/asym, q4/gN/sym, q3k, q4k, q5k, q6k (default: each tensor's source dtype).")
    var quant: QuantChoice?

    @Option(help: ArgumentHelp("Calibration statistics from `bffn calibrate` (formats/calibration.md): the importance of each input column in the scale search.", valueName: "file"),
            completion: .file())
    var imatrix: String?

    @Option(help: "How q8/q4 group scales are chosen: weighted (importance-weighted search; the default, except for the q4-all recipe) or nearest (from the group's extremes).")
    var scaleSearch: WeightQuantizer.ScaleSearch?

    @Option(help: "Group size for q8/q4: a multiple of 8, usually 32, 64 or 128 (q8 without it: one scale per row; q4 default 32).")
    var groupSize: Int?

    @Flag(help: "q4 with a scale only (default: scale and offset per group).")
    var symmetric = false

    @Flag(help: "Refuse a tensor whose rows the group size does not divide (default: store it with the largest supported group that does, listed in the output and the manifest).")
    var strictGroups = false

    @Option(help: "Storage for the embedding and LM head (default: follows --quant).")
    var quantEmbeddings: StorageType?

    @Option(name: [.customLong("override"), .customLong("keep")], parsing: .upToNextOption,
            help: ArgumentHelp("Storage for some tensors, SCOPE=SCHEME: a class (attention, experts, dense_ffn, embeddings, head), experts.up or experts.down, or a class in some layers (attention@0,5-6); e.g. attention=q8 experts.down=q6k. The narrowest scope decides, then the later one (--keep is the old spelling).",
                               valueName: "class=scheme"))
    var overrideClasses: [StorageOverride] = []

    @Option(help: "Alignment of sections and expert blocks in bytes (a power of two, e.g. 4096 or 16384).")
    var align: Int = 4096

    @Option(parsing: .upToNextOption, help: "Files to carry inside the pack verbatim (tokenizer files, generation_config.json).")
    var attach: [String] = []

    @OptionGroup var skillCard: SkillCardOptions
    @OptionGroup var carrying: TokenizerCarryOptions
    @OptionGroup var drafting: DraftHeadOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var printing: OutputOptions

    /// A scheme with --group-size and --symmetric applied (they qualify the bare spellings q8 and q4).
    func scheme(_ s: StorageType?) -> StorageType? { s?.with(group: groupSize, symmetric: symmetric) }

    /// The overrides in the order given, with --group-size and --symmetric applied.
    func overrides() -> [StorageOverride] { overrideClasses.map { $0.with(group: groupSize, symmetric: symmetric) } }

    func validate() throws {
        if let g = groupSize, !StorageType.isSupportedGroup(g) { throw ValidationError("--group-size must be \(StorageType.groupRule)") }
        guard PackHeader.isSupportedAlignment(align) else { throw ValidationError("--align must be \(PackHeader.alignmentRule)") }
    }

    /// What --quant, --group-size and --symmetric set in the library's options (`ConvertOptions.setQuantization`).
    var quantization: ConvertOptions {
        var o = ConvertOptions()
        o.setQuantization(quant, group: groupSize, symmetric: symmetric)
        return o
    }

    /// The storage every class gets unless a rule or override says otherwise (a recipe's base).
    var baseStorage: StorageType? { quantization.quant }

    /// The recipe named, with --group-size and --symmetric applied.
    var recipe: QuantRecipe? { quantization.recipe }

    func run() throws {
        try printing.run {
            var o = ConvertOptions()
            o.setQuantization(quant, group: groupSize, symmetric: symmetric)
            if let scaleSearch { o.scaleSearch = scaleSearch }
            if let imatrix { o.statistics = try ActivationStatistics(path: imatrix) }
            o.embeddingQuant = scheme(quantEmbeddings)
            o.overrides = overrides()
            o.strictGroups = strictGroups
            o.alignment = align
            let source = try HubCache.resolve(self.source)
            if let found = try skillCard.layer(at: source) {
                // A skill-card layer: float32 expert blocks with their biases (formats/bfpk.md, "Skill-card layer packs").
                guard quant == nil || quant == .storage(.f32) else {
                    throw BFFNError(.usage, "a skill-card layer pack stores float32; --quant \(quant!.description) is not available for it", field: "quant")
                }
                let bytes = try SkillCardPack.write(found.layer, to: output, alignment: align, overwrite: overwriting.force,
                                                    sourceFiles: found.files.map { .string(String($0.split(separator: "/").last ?? "")) })
                if printing.json {
                    printing.emit(SkillCardPack.json(output: output, fileBytes: bytes, experts: found.layer.experts))
                } else if !printing.quiet {
                    print("wrote \(output): a skill-card layer, \(found.layer.experts) expert blocks with their biases (float32), \(TextNumber.bytesWithSize(UInt64(bytes)))")
                }
                return
            }
            o.attachments = attach
            o.draftHead = drafting.draftHead
            o.draftVocabularySize = drafting.draftVocab
            o.overwrite = overwriting.force
            o.threads = threading.threads
            let progress = ProgressReporter(label: "convert", options: printing)
            let (r, carried) = try Conversion.convert(source: source, output: output, options: o, carryTokenizer: !carrying.noTokenizer) { progress.update($0, $1) }
            progress.finish()
            for f in r.removedStaleFiles where !printing.quiet {
                FileHandleOutput.standardError("bffn: removed \(f.path) (\(TextNumber.bytesWithSize(f.bytes))), left by an interrupted run\n")
            }
            carrying.report(carried, printing: printing)
            if printing.json {
                printing.emit(r.json.appending("carried_files", .array(carried.map { .string($0) })))
            } else {
                print("wrote \(r.output): \(TextNumber.bytesWithSize(r.outputBytes)); source \(TextNumber.bytesWithSize(r.sourceBytes))")
                for f in r.fitted {
                    print("  \(f.name): \(f.requested) does not divide its rows; stored as \(f.stored)")
                }
                for c in r.classes {
                    let snr = c.stats.snrDB.map { "\(fixed($0, 1)) dB" } ?? "lossless"
                    print("  \(c.tensorClass.rawValue.padding(toLength: 11)) \(c.dtype.padding(toLength: 5)) RMSE \(TextNumber.short(c.stats.rmse)) max \(TextNumber.short(c.stats.maxAbs)) SNR \(snr)")
                }
            }
        }
    }
}
