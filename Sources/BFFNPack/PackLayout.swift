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

    /// Plans the pack.
    /// - Throws: `.usage` for an expert order that is not a permutation; the quantizer's errors for a group size
    ///   that does not divide a row.
    public init(weights: ModelWeights, options: ConvertOptions) throws {
        let a = weights.architecture
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        self.dense = try weights.denseTensors.map { d in
            (d, try PackLayout.target(d.tensorClass, d.matrix.type, cols: d.matrix.cols, tensor: d.name, options: options))
        }
        let order = options.expertOrder ?? (0..<a.numLayers).map { _ in Array(0..<E) }
        guard order.count == a.numLayers, order.allSatisfy({ $0.sorted() == Array(0..<E) }) else {
            throw BFFNError(.usage, "expert order must give a permutation of 0..<\(E) for each of \(a.numLayers) layers")
        }
        self.order = order
        layers = a.numLayers
        experts = E
        let expertSource = weights.layers.first?.experts?.up.first?.type ?? .bf16
        upType = try PackLayout.target(.experts, expertSource, cols: H, tensor: "experts (up rows of \(H))", options: options)
        downType = try PackLayout.target(.experts, expertSource, cols: de, tensor: "experts (down rows of \(de))", options: options)
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
    /// - Throws: `StorageType.resolved`'s error naming `tensor` for a group size that does not divide `cols`.
    static func target(_ tensorClass: TensorClass, _ source: StorageType, cols: Int, tensor: String, options: ConvertOptions) throws -> StorageType {
        guard tensorClass.isQuantizable else { return source }
        let s: StorageType?
        switch tensorClass {
        case .embeddings, .head: s = options.overrides[tensorClass] ?? options.embeddingQuant ?? options.quant
        default: s = options.overrides[tensorClass] ?? options.quant
        }
        guard let s else { return source }
        return try s.resolved(cols: cols, tensor: tensor)
    }

    /// Bytes of all expert blocks.
    public var expertBytes: UInt64 { UInt64(layers * experts) * blockBytes }
}

