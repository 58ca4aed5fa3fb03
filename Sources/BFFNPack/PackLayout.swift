import BFFNCore
import BFFNKernels
import BFFNModel

/// What a pack of `weights` with `options` will hold, computed before writing: every dense tensor with its class
/// and storage, the expert order and block geometry, and the resulting byte sizes.
public struct PackLayout {
    /// Dense tensors under their published (HF) names, with their class, the storage each gets and why (the
    /// manifest's `rule`).
    let dense: [(tensor: NamedMatrix, storage: StorageType, rule: String)]
    /// Per layer: the source expert stored in each slot.
    public let order: [[Int]]
    /// Storage of the expert up and down rows.
    public let upType: StorageType, downType: StorageType
    /// Why the expert up and down rows got their storage (the manifest's `experts.up.rule` and `.down.rule`).
    public let upRule: String, downRule: String
    /// Data bytes of one expert, and its block size (data rounded up to the alignment).
    public let expertDataBytes: UInt64, blockBytes: UInt64
    /// Offset of the first expert block: the header and the dense section before it, in bytes.
    public private(set) var expertsOffset: UInt64 = 0
    /// Layers and experts per layer.
    public let layers: Int, experts: Int
    /// Tensors whose rows the requested group does not divide, with the storage they get instead (empty with
    /// `strictGroups`, which refuses them).
    public private(set) var fitted: [FittedGroup] = []

    /// A tensor stored with another group (or type) than requested because the requested group does not
    /// divide its rows.
    public struct FittedGroup: Sendable, Equatable {
        /// The tensor (for expert blocks: `experts.up` or `experts.down`).
        public var name: String
        /// What was asked for, and what is stored.
        public var requested: StorageType, stored: StorageType

        /// Names a fitted tensor.
        public init(name: String, requested: StorageType, stored: StorageType) {
            self.name = name
            self.requested = requested
            self.stored = stored
        }

        /// The manifest's and `--json`'s spelling: `{"name", "requested", "stored"}`.
        public var json: JSONValue {
            .object([("name", .string(name)), ("requested", .string(requested.description)), ("stored", .string(stored.description))])
        }
    }

    /// Plans the pack.
    /// - Throws: `.usage` for an override that covers no tensor of the model (a layer it does not have, a class it
    ///   lacks) or an expert order that is not a permutation; with `strictGroups`, the quantizer's error naming the
    ///   first tensor whose rows the requested group does not divide.
    public init(weights: ModelWeights, options: ConvertOptions) throws {
        let a = weights.architecture
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        let denseTensors = weights.denseTensors
        for o in options.overrides {
            let dense = denseTensors.contains { o.scope.covers($0.tensorClass, part: nil, layer: $0.layer) }
            let experts = E > 0 && ExpertPart.allCases.contains { o.scope.covers(.experts, part: $0, layer: nil) }
            guard dense || experts else {
                throw BFFNError(.usage, "--override \(o) covers no tensor of this model (\(a.numLayers) layers, 0 ... \(a.numLayers - 1)\(E > 0 ? "" : ", no experts"))",
                                field: "override")
            }
        }
        var fitted: [FittedGroup] = []
        self.dense = try denseTensors.map { d in
            let decided = PackLayout.decide(d.tensorClass, part: nil, layer: d.layer, options: options)
            return (d, try PackLayout.target(decided.storage, d.tensorClass, d.matrix.type, cols: d.matrix.cols, tensor: d.name, options: options,
                                             fitted: &fitted), decided.rule)
        }
        let order = options.expertOrder ?? (0..<a.numLayers).map { _ in Array(0..<E) }
        guard order.count == a.numLayers, order.allSatisfy({ $0.sorted() == Array(0..<E) }) else {
            throw BFFNError(.usage, "expert order must give a permutation of 0..<\(E) for each of \(a.numLayers) layers")
        }
        self.order = order
        layers = a.numLayers
        experts = E
        let expertSource = weights.layers.first?.experts?.up.first?.type ?? .bf16
        let up = PackLayout.decide(.experts, part: .up, layer: nil, options: options)
        let down = PackLayout.decide(.experts, part: .down, layer: nil, options: options)
        upType = try PackLayout.target(up.storage, .experts, expertSource, cols: H, tensor: "experts.up", options: options, fitted: &fitted)
        downType = try PackLayout.target(down.storage, .experts, expertSource, cols: de, tensor: "experts.down", options: options, fitted: &fitted)
        upRule = up.rule
        downRule = down.rule
        self.fitted = fitted
        expertDataBytes = UInt64(de * upType.rowBytes(cols: H) + H * downType.rowBytes(cols: de))
        let align = UInt64(options.alignment)
        blockBytes = (expertDataBytes + align - 1) / align * align
        var offset = (UInt64(PackHeader.length) + align - 1) / align * align
        for d in self.dense {
            offset = (offset + 63) / 64 * 64
            offset += UInt64(d.tensor.matrix.rows) * UInt64(d.storage.rowBytes(cols: d.tensor.matrix.cols))
        }
        expertsOffset = E > 0 ? (offset + align - 1) / align * align : offset
    }

    /// What a tensor of `tensorClass` (an expert `part`, in `layer` or outside layers) is asked to be stored as, and
    /// why (the manifest's `rule`), in this order: an override covering it, `--quant-embeddings` for the embedding
    /// and head, the recipe's rule covering it, the recipe's base or `--quant`; nil storage: the source dtype. The
    /// router and norms are always kept.
    static func decide(_ tensorClass: TensorClass, part: ExpertPart?, layer: Int?, options: ConvertOptions) -> (storage: StorageType?, rule: String) {
        guard tensorClass.isQuantizable else { return (nil, "kept") }
        if let o = options.override(for: tensorClass, part: part, layer: layer) { return (o.storage, "--override \(o)") }
        if tensorClass == .embeddings || tensorClass == .head, let s = options.embeddingQuant { return (s, "--quant-embeddings \(s)") }
        if let r = options.recipe {
            if let rule = r.rule(for: tensorClass, part: part, layer: layer) {
                let scope = rule.scope.specificity > 0 ? " (\(rule.scope))" : ""
                return (rule.storage, "recipe \(r.name)\(scope): \(rule.reason)")
            }
            return (options.quant, "recipe \(r.name) base")
        }
        if let q = options.quant { return (q, "--quant \(q)") }
        return (nil, "source dtype")
    }

    /// The storage of a tensor of class `tensorClass` stored as `source` in the checkpoint and asked to be stored
    /// as `asked` (nil: the source dtype; `decide`), resolved for rows of `cols`. When the scheme's group does not
    /// divide `cols`, the tensor gets `fittedStorage` and is listed in `fitted` (or, with `strictGroups`, refused).
    /// - Throws: with `strictGroups`, `StorageType.resolved`'s error naming `tensor`.
    static func target(_ asked: StorageType?, _ tensorClass: TensorClass, _ source: StorageType, cols: Int, tensor: String,
                       options: ConvertOptions, fitted: inout [FittedGroup]) throws -> StorageType {
        guard tensorClass.isQuantizable, let s = asked else { return source }
        if options.strictGroups || s.fits(cols: cols) { return try s.resolved(cols: cols, tensor: tensor) }
        let stored = fittedStorage(s, cols: cols, source: source)
        fitted.append(FittedGroup(name: tensor, requested: s, stored: stored))
        return stored
    }

    /// The group sizes the converter chooses from when a requested group does not divide a row.
    public static let supportedGroups = [128, 64, 32, 16, 8]

    /// What a tensor with rows of `cols` elements gets when `requested` does not fit them: the same scheme with
    /// the largest supported group no larger than the requested one that divides `cols`; for q4 with none, q8
    /// with one scale per row; and the source dtype when no quantized row fits either (rows that are not a
    /// multiple of 8 elements).
    public static func fittedStorage(_ requested: StorageType, cols: Int, source: StorageType) -> StorageType {
        let limit = requested.group(cols: cols) ?? cols
        let group = supportedGroups.first { $0 <= limit && cols % $0 == 0 }
        switch requested {
        case .q4(_, let asymmetric):
            if let group { return .q4(group: group, asymmetric: asymmetric) }
        case .q8:
            if let group { return .q8(group: group) }
        case .q4k:
            if let group { return .q4(group: group, asymmetric: true) }
        case .q5k, .q6k:
            if let group { return .q8(group: group) }
        case .q3k:
            if let group { return .q4(group: group, asymmetric: false) }
        case .f32, .f16, .bf16:
            return requested
        }
        if let row = try? StorageType.q8(group: nil).resolved(cols: cols, tensor: "") { return row }
        return source
    }

    /// Bytes of all expert blocks.
    public var expertBytes: UInt64 { UInt64(layers * experts) * blockBytes }
}

