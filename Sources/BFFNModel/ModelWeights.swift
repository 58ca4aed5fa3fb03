import BFFNCheckpoint
import BFFNCore
import BFFNKernels

/// Every weight the engine reads, resolved from a checkpoint or a pack for any recognised layout.
public final class ModelWeights: @unchecked Sendable {
    /// What the model is (attention variant, FFN layout, sizes).
    public let architecture: ModelArchitecture
    /// The model's config.json (scalings, RoPE, norm eps).
    public let config: ModelConfig
    /// Token embedding [V, H].
    public let embedding: WeightMatrix
    /// Final RMSNorm weight [1, H].
    public let finalNorm: WeightMatrix
    /// LM head [V, H] (the embedding when tied).
    public let head: WeightMatrix
    /// The decoder layers.
    public let layers: [LayerWeights]
    /// Bytes of one expert's weights (its up and down parts) in one layer.
    public let bytesPerExpert: Int
    /// Bytes read per token outside the experts: attention, router, norms and the LM head (one embedding row).
    public let nonExpertBytesPerToken: Int
    /// Multiply-adds per token outside the experts (one per weight read, the embedding row excluded).
    public let nonExpertParametersPerToken: Int
    /// Multiply-adds of one expert per token (its up and down weights).
    public let parametersPerExpert: Int
    /// Bytes of every weight the forward pass uses, each counted once (a tied head shares the embedding), in
    /// the dtype it is read in: the model's size, against which resident memory is judged.
    public let weightBytes: Int
    /// Objects that keep the weights' memory alive (file mappings, cached storages, owned copies).
    public var keepAlive: [AnyObject] = []

    /// Every distinct memory region the weights live in (file mappings, gathered copies), for measuring the
    /// read bandwidth of the very memory decoding streams; for weights repacked for the int8 products
    /// (`withTiles`), the tiles' arena instead (what those products stream; the mapped pages were let go).
    public var weightRegions: [UnsafeRawBufferPointer] {
        let arenas = keepAlive.compactMap { ($0 as? TileArena).map { UnsafeRawBufferPointer($0.bytes) } }
        if !arenas.isEmpty { return arenas }
        var seen = Set<UnsafeRawPointer>()
        return keepAlive.compactMap { o in
            let region = (o as? LoadedBytes)?.bytes ?? (o as? MappedFile)?.bytes
            guard let r = region, let base = r.baseAddress, seen.insert(base).inserted else { return nil }
            return r
        }
    }

    /// Builds the weights from any source: `matrix(name, rows, cols)` returns a dense tensor by its name in
    /// `names`, and `experts(layer)` the layer's router and experts (BlockFFN layouts only). Objects that keep
    /// the memory alive go in `keepAlive` (set by the caller after init).
    /// - Throws: whatever `matrix` and `experts` throw (a missing tensor, an unsupported dtype).
    public init(architecture a: ModelArchitecture, config: ModelConfig, names n: TensorNames,
                matrix: (String, Int?, Int?) throws -> WeightMatrix, experts: (Int) throws -> ExpertWeights) throws {
        architecture = a
        self.config = config
        func m(_ name: String) throws -> WeightMatrix { try matrix(name, nil, nil) }
        func vector(_ name: String) throws -> WeightMatrix {
            let x = try m(name)
            return WeightMatrix(base: x.base, type: x.type, rows: 1, cols: x.rows * x.cols)
        }
        embedding = try m(n.embedding)
        finalNorm = try vector(n.finalNorm)
        head = a.tiedEmbeddings ? embedding : try m(n.head)
        var layers: [LayerWeights] = []
        for l in 0..<a.numLayers {
            let p = n.layer(l)
            let attention: AttentionWeights
            switch a.attention {
            case .mla:
                attention = .mla(MLAWeights(qA: try m(p + n.qA), qANorm: try vector(p + n.qANorm), qB: try m(p + n.qB),
                                            kvA: try m(p + n.kvA), kvANorm: try vector(p + n.kvANorm), kvB: try m(p + n.kvB),
                                            output: try m(p + n.mlaOutput)))
            case .gqa:
                attention = .gqa(GQAWeights(q: try m(p + n.q), k: try m(p + n.k), v: try m(p + n.v), output: try m(p + n.gqaOutput)))
            }
            let ffn: FFNWeights = a.ffnLayout == .vanilla
                ? .dense(DenseFFNWeights(gate: try m(p + n.gate), up: try m(p + n.denseUp), down: try m(p + n.denseDown)))
                : .experts(try experts(l))
            layers.append(LayerWeights(inputNorm: try vector(p + n.inputNorm), postNorm: try vector(p + n.postNorm),
                                       attention: attention, ffn: ffn))
        }
        self.layers = layers
        let firstExperts = layers.first?.experts
        bytesPerExpert = (firstExperts?.up.first?.byteCount ?? 0) + (firstExperts?.down.first?.byteCount ?? 0)
        parametersPerExpert = 2 * a.expertSize * a.hiddenSize
        var layerBytes = 0, expertBytes = 0
        var otherParameters = head.rows * head.cols + finalNorm.cols
        for (l, lw) in layers.enumerated() {
            let mats = lw.denseTensors(layer: l, names: n).map(\.matrix)
            layerBytes += mats.reduce(0) { $0 + $1.byteCount }
            otherParameters += mats.reduce(0) { $0 + $1.rows * $1.cols }
            if let x = lw.experts { expertBytes += (x.up + x.down).reduce(0) { $0 + $1.byteCount } }
        }
        nonExpertBytesPerToken = head.byteCount + finalNorm.byteCount + embedding.type.rowBytes(cols: embedding.cols) + layerBytes
        nonExpertParametersPerToken = otherParameters
        weightBytes = embedding.byteCount + (a.tiedEmbeddings ? 0 : head.byteCount) + finalNorm.byteCount + layerBytes + expertBytes
    }

    /// `other` with its LM head and layers replaced by the same matrices in another form (repacked copies of the
    /// same rows): sizes and counts are kept, and so is what keeps the memory alive.
    init(copying other: ModelWeights, head: WeightMatrix, layers: [LayerWeights]) {
        architecture = other.architecture
        config = other.config
        embedding = other.embedding
        finalNorm = other.finalNorm
        self.head = head
        self.layers = layers
        bytesPerExpert = other.bytesPerExpert
        nonExpertBytesPerToken = other.nonExpertBytesPerToken
        nonExpertParametersPerToken = other.nonExpertParametersPerToken
        parametersPerExpert = other.parametersPerExpert
        weightBytes = other.weightBytes
        keepAlive = other.keepAlive
    }

    /// Every matrix outside the experts under its published name, with its class, in the order packs store
    /// them: the embedding, each layer's tensors (`LayerWeights.denseTensors`), the final norm, and the LM head
    /// unless it is tied.
    public var denseTensors: [NamedMatrix] {
        let n = TensorNames.published
        var out = [NamedMatrix(name: n.embedding, tensorClass: .embeddings, matrix: embedding)]
        for (l, lw) in layers.enumerated() {
            out += lw.denseTensors(layer: l, names: n).map { t in
                var t = t
                t.layer = l
                return t
            }
        }
        out.append(NamedMatrix(name: n.finalNorm, tensorClass: .norms, matrix: finalNorm, isVector: true))
        if !architecture.tiedEmbeddings { out.append(NamedMatrix(name: n.head, tensorClass: .head, matrix: head)) }
        return out
    }

    /// Every weight matrix with its class, experts included (each expert's up and down weights as `.experts`).
    public var allMatrices: [(tensorClass: TensorClass, matrix: WeightMatrix)] {
        var out = denseTensors.map { ($0.tensorClass, $0.matrix) }
        if architecture.tiedEmbeddings { out.append((.head, head)) }
        for lw in layers { if let x = lw.experts { out += (x.up + x.down).map { (.experts, $0) } } }
        return out
    }

    /// Per-layer router scores (T rows of E, stored slot order as the engine returns them) with experts put back
    /// in source order, for packs that store experts permuted.
    public func sourceOrdered(_ scores: [[Float]]) -> [[Float]] {
        let E = architecture.numExperts
        return scores.enumerated().map { l, s in
            let order = layers[l].experts?.sourceIndex ?? []
            guard !order.isEmpty, E > 0 else { return s }
            var out = s
            for t in 0..<(s.count / E) { for slot in 0..<E { out[t * E + order[slot]] = s[t * E + slot] } }
            return out
        }
    }
}
