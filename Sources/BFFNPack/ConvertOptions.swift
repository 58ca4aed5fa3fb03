import BFFNCore
import BFFNKernels
import BFFNModel

/// Options for `PackWriter.convert`.
public struct ConvertOptions: Sendable {
    /// Storage for weights; nil keeps each tensor's source dtype.
    public var quant: StorageType?
    /// Storage for the embedding and LM head; nil follows `quant`.
    public var embeddingQuant: StorageType?
    /// Storage overrides (`--override attention=q8`, `experts.down=q6k`, `attention@0,6=q8`), in the order given;
    /// the router and norms cannot be overridden. `override(for:part:layer:)` says which one decides a tensor.
    public var overrides: [StorageOverride] = []
    /// The recipe `--quant` named (`QuantRecipe`), whose rules give a class its storage unless `overrides` or
    /// `embeddingQuant` do; `quant` holds its base. nil: `quant` alone.
    public var recipe: QuantRecipe?
    /// How q8/q4 group scales (and offsets) are chosen: round to nearest (the default here) or the importance-weighted
    /// search (formats/bfpk.md, "Choosing scales").
    public var scaleSearch: WeightQuantizer.ScaleSearch = .nearest
    /// Calibration statistics (`--imatrix`, formats/calibration.md) whose mean squares are the weighted search's
    /// importance per input column; nil, or a matrix they do not cover: xᵢ².
    public var statistics: ActivationStatistics?
    /// Refuse a tensor whose rows the requested group does not divide (an error naming it) instead of storing it
    /// with the largest supported group that divides them (`PackLayout.fittedStorage`).
    public var strictGroups = false
    /// Alignment of sections and expert blocks in bytes (a power of two, 64 ... 1 MiB).
    public var alignment = 4096
    /// Files carried verbatim (tokenizer files, generation_config.json), stored under their base names.
    public var attachments: [String] = []
    /// An EAGLE draft head folder to carry in the pack (formats/bfpk.md, "Draft head"), stored in its own dtype.
    public var draftHead: String?
    /// With `draftHead`: carry the reduced draft vocabulary of this many ids, read from the head folder's
    /// `freq_<N>.pkl`; nil: the identity (every token).
    public var draftVocabularySize: Int?
    /// Replace an existing output.
    public var overwrite = false
    /// Threads (the output does not depend on it).
    public var threads = WorkerPool.usableCPUs
    /// Per layer, the source expert stored in each slot (nil: identity). The router's rows and the router-norm
    /// weights are stored in the same order, so logits do not change; `bffn pack` orders experts by use.
    public var expertOrder: [[Int]]?
    /// Expert slots per layer stored in the resident section (the first slots of each layer; the rest follow
    /// in the streamed section); nil: all (formats/bfpk.md, "Resident and streamed experts").
    public var residentExperts: Int?
    /// Recorded under `provenance.deployment` in the manifest (what `bffn pack` decided and why).
    public var deployment: JSONValue?
    /// Called with the path of the finished, still temporary pack before it is renamed into place; an error it
    /// throws is rethrown and leaves no output (`bffn pack` verifies here).
    public var checkBeforeCommit: (@Sendable (String) throws -> Void)?
    /// Sets `quant`, `recipe` and `scaleSearch` from what `--quant` (or the C interface's `quant`) names: a recipe
    /// gives its base, its rules and its search; a storage stores every class alike with the weighted search; nil
    /// keeps the source dtypes. `group` and `symmetric` qualify the bare `q8`/`q4` spellings (`--group-size`,
    /// `--symmetric`).
    public mutating func setQuantization(_ choice: QuantChoice?, group: Int? = nil, symmetric: Bool = false) {
        switch choice {
        case .recipe(let r)?:
            let qualified = r.with(group: group, symmetric: symmetric)
            recipe = qualified
            quant = qualified.base
            scaleSearch = qualified.search
        case .storage(let s)?:
            recipe = nil
            quant = s.with(group: group, symmetric: symmetric)
            scaleSearch = .weighted
        case nil:
            recipe = nil
            quant = nil
            scaleSearch = .weighted
        }
    }

    /// The override that decides a tensor of `tensorClass` (an expert `part`, in `layer` or outside layers): of
    /// those covering it, the narrowest scope, then the last given; nil when none covers it.
    public func override(for tensorClass: TensorClass, part: ExpertPart? = nil, layer: Int? = nil) -> StorageOverride? {
        var best: StorageOverride?
        for o in overrides where o.scope.covers(tensorClass, part: part, layer: layer) {
            if best == nil || o.scope.specificity >= best!.scope.specificity { best = o }
        }
        return best
    }

    /// Default options: source dtypes, 4096-byte alignment, one thread per CPU this process may run on.
    public init() {}
}


/// What a conversion did.
public struct ConvertReport: Sendable {
    public var output: String
    public var sourceBytes: UInt64
    public var outputBytes: UInt64
    /// Per tensor class present, in report order: the storage (manifest spelling) and the error.
    public var classes: [(tensorClass: TensorClass, dtype: String, stats: ErrorStats)]
    /// Tensors stored with another group than requested (`PackLayout.fitted`).
    public var fitted: [PackLayout.FittedGroup] = []
    /// Temporary files of this output that a killed run left and this one removed, with their sizes in bytes.
    public var removedStaleFiles: [(path: String, bytes: UInt64)] = []
}


extension ConvertReport {
    /// The report as `bffn convert --json` prints it (docs/json.md, "convert"): `output`, `source_bytes`,
    /// `file_bytes` and per class `{dtype, error: {rmse, max_abs, snr_db, elements}}`, the manifest's spelling.
    public var json: JSONValue {
        .object([
            ("output", .string(output)), ("source_bytes", .integer(sourceBytes)), ("file_bytes", .integer(outputBytes)),
            ("classes", .object(classes.map { c in (c.tensorClass.rawValue, JSONValue.object([("dtype", .string(c.dtype)), ("error", c.stats.json)])) })),
            ("fitted_groups", .array(fitted.map(\.json))),
            ("removed_stale_files", .array(removedStaleFiles.map { .object([("path", .string($0.path)), ("bytes", .integer($0.bytes))]) })),
        ])
    }
}
