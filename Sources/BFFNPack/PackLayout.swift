import BFFNCore
import BFFNKernels
import BFFNModel

/// What a pack of `weights` with `options` will hold, computed before writing: every dense tensor with its class
/// and storage, the expert order and block geometry, and the resulting byte sizes.
public struct PackLayout {
    /// Dense tensors under their published (HF) names, with their class, and the storage each gets.
    let dense: [(tensor: NamedMatrix, storage: StorageType)]
    /// Per layer: the source expert stored in each slot.
    public let order: [[Int]]
    /// Storage of the expert up and down rows.
    public let upType: StorageType, downType: StorageType
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
    /// - Throws: `.usage` for an expert order that is not a permutation; with `strictGroups`, the quantizer's
    ///   error naming the first tensor whose rows the requested group does not divide.
    public init(weights: ModelWeights, options: ConvertOptions) throws {
        let a = weights.architecture
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        var fitted: [FittedGroup] = []
        self.dense = try weights.denseTensors.map { d in
            (d, try PackLayout.target(d.tensorClass, d.matrix.type, cols: d.matrix.cols, tensor: d.name, options: options, fitted: &fitted))
        }
        let order = options.expertOrder ?? (0..<a.numLayers).map { _ in Array(0..<E) }
        guard order.count == a.numLayers, order.allSatisfy({ $0.sorted() == Array(0..<E) }) else {
            throw BFFNError(.usage, "expert order must give a permutation of 0..<\(E) for each of \(a.numLayers) layers")
        }
        self.order = order
        layers = a.numLayers
        experts = E
        let expertSource = weights.layers.first?.experts?.up.first?.type ?? .bf16
        upType = try PackLayout.target(.experts, expertSource, cols: H, tensor: "experts.up", options: options, fitted: &fitted)
        downType = try PackLayout.target(.experts, expertSource, cols: de, tensor: "experts.down", options: options, fitted: &fitted)
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

    /// The storage of a tensor of class `tensorClass` stored as `source` in the checkpoint: the router and norms
    /// keep it; other classes get their override, or the embedding or general scheme, resolved for rows of `cols`.
    /// When the scheme's group does not divide `cols`, the tensor gets `fittedStorage` and is listed in `fitted`
    /// (or, with `strictGroups`, refused).
    /// - Throws: with `strictGroups`, `StorageType.resolved`'s error naming `tensor`.
    static func target(_ tensorClass: TensorClass, _ source: StorageType, cols: Int, tensor: String, options: ConvertOptions,
                       fitted: inout [FittedGroup]) throws -> StorageType {
        guard tensorClass.isQuantizable else { return source }
        let s: StorageType?
        switch tensorClass {
        case .embeddings, .head: s = options.overrides[tensorClass] ?? options.embeddingQuant ?? options.recipe?.rule(for: tensorClass)?.storage ?? options.quant
        default: s = options.overrides[tensorClass] ?? options.recipe?.rule(for: tensorClass)?.storage ?? options.quant
        }
        guard let s else { return source }
        if options.strictGroups || s.fits(cols: cols) { return try s.resolved(cols: cols, tensor: tensor) }
        let stored = fittedStorage(s, cols: cols, source: source)
        fitted.append(FittedGroup(name: tensor, requested: s, stored: stored))
        return stored
    }

    /// Why the tensors of class `tensorClass` get their storage, as the manifest records it
    /// (`quantization.classes.<class>.rule`): the option or recipe rule that decided, in the order `target`
    /// consults them.
    static func rule(_ tensorClass: TensorClass, options: ConvertOptions) -> String {
        guard tensorClass.isQuantizable else { return "kept" }
        if let s = options.overrides[tensorClass] { return "--override \(tensorClass.rawValue)=\(s)" }
        if tensorClass == .embeddings || tensorClass == .head, let s = options.embeddingQuant { return "--quant-embeddings \(s)" }
        if let r = options.recipe {
            if let rule = r.rule(for: tensorClass) { return "recipe \(r.name): \(rule.reason)" }
            return "recipe \(r.name) base"
        }
        if let q = options.quant { return "--quant \(q)" }
        return "source dtype"
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

