import BFFNCheckpoint
import BFFNCore
import BFFNKernels

/// The shape of an EAGLE draft head, from its config.json (docs/model.md, "EAGLE draft heads").
public struct EagleConfig: Sendable, Equatable {
    /// H: must equal the target's hidden size.
    public var hiddenSize: Int
    /// Decoder layers (`num_hidden_layers`, usually 1).
    public var layers: Int
    /// Query heads, key/value heads and the width of one head (`head_dim`, required as the published loader does).
    public var heads: Int, kvHeads: Int, headDim: Int
    /// The gated MLP's width (`intermediate_size`).
    public var intermediateSize: Int
    /// RoPE base (`rope_theta`); nil: the target's.
    public var ropeTheta: Double?
    /// RoPE scaling (`rope_scaling`, linear or dynamic); nil: the target's.
    public var ropeScaling: ModelConfig.RopeScaling?
    /// The length dynamic RoPE scaling starts beyond (`max_position_embeddings`); nil: the target's.
    public var maxPositionEmbeddings: Int?

    /// A head of these widths; the RoPE settings left nil are the target's.
    public init(hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, headDim: Int, intermediateSize: Int, ropeTheta: Double? = nil,
                ropeScaling: ModelConfig.RopeScaling? = nil, maxPositionEmbeddings: Int? = nil) {
        (self.hiddenSize, self.layers, self.heads, self.kvHeads, self.headDim, self.intermediateSize, self.ropeTheta) =
            (hiddenSize, layers, heads, kvHeads, headDim, intermediateSize, ropeTheta)
        (self.ropeScaling, self.maxPositionEmbeddings) = (ropeScaling, maxPositionEmbeddings)
    }

    /// Reads the keys the published loader reads from a parsed config.json.
    /// - Throws: `.invalidConfig` naming a missing key or one out of range; `file` names the config.
    public init(config c: ModelConfig, hiddenSize: Int, file: String?) throws {
        func need(_ v: Int?, _ key: String) throws -> Int {
            guard let v, v > 0 else { throw BFFNError(.invalidConfig, "an EAGLE head's config.json must give \(key) (a positive integer)", file: file, field: key) }
            return v
        }
        let heads = try need(c.numAttentionHeads, "num_attention_heads")
        let kv = try need(c.numKeyValueHeads ?? c.numAttentionHeads, "num_key_value_heads")
        guard heads % kv == 0 else {
            throw BFFNError(.invalidConfig, "num_attention_heads (\(heads)) must be a multiple of num_key_value_heads (\(kv))", file: file, field: "num_key_value_heads")
        }
        let headDim = try need(c.headDim, "head_dim")
        guard headDim % 2 == 0 else { throw BFFNError(.invalidConfig, "head_dim must be even for RoPE, not \(headDim)", file: file, field: "head_dim") }
        let layers = try need(c.numHiddenLayers, "num_hidden_layers")
        guard layers <= 64 else { throw BFFNError(.invalidConfig, "an EAGLE head of \(layers) layers is not a draft head", file: file, field: "num_hidden_layers") }
        if let h = c.hiddenSize, h != hiddenSize {
            throw BFFNError(.shapeMismatch, "config.json says hidden_size \(h) but fc.weight is [\(hiddenSize), \(2 * hiddenSize)]", file: file, field: "hidden_size")
        }
        self.init(hiddenSize: hiddenSize, layers: layers, heads: heads, kvHeads: kv, headDim: headDim,
                  intermediateSize: try need(c.intermediateSize, "intermediate_size"), ropeTheta: c.ropeTheta,
                  ropeScaling: c.ropeScaling, maxPositionEmbeddings: c.maxPositionEmbeddings)
    }
}

/// One Llama-style decoder layer of an EAGLE head.
public struct EagleLayer: @unchecked Sendable {
    /// Attention projections: q [heads·headDim, H], k and v [kvHeads·headDim, H], o [H, heads·headDim].
    public let q: WeightMatrix, k: WeightMatrix, v: WeightMatrix, o: WeightMatrix
    /// The attention pre-norm [H] (not applied in layer 0, as the published engine does) and the MLP pre-norm.
    public let inputNorm: WeightMatrix, postNorm: WeightMatrix
    /// The gated MLP: gate and up [I, H], down [H, I].
    public let gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix
}

/// An EAGLE draft head in the published layout (docs/model.md, "EAGLE draft heads"; formats/bfpk.md for the
/// copy a pack carries): `fc` [H, 2H] with a bias, two input RMSNorms, Llama-style decoder layers and no LM
/// head of its own (the target's head rows of the draft vocabulary are used).
public final class EagleHead: @unchecked Sendable {
    /// Its shape.
    public let config: EagleConfig
    /// fc [H, 2H] (columns 0 ..< H for the normed embedding, H ..< 2H for the normed feature) and its bias [H].
    public let fc: WeightMatrix, fcBias: WeightMatrix
    /// RMSNorm weights [H] of the embedding and of the feature.
    public let inputNorm1: WeightMatrix, inputNorm2: WeightMatrix
    /// The decoder layers.
    public let layers: [EagleLayer]
    /// Objects that own the weights' memory (mappings).
    public var keepAlive: [AnyObject] = []

    /// The checkpoint names of every tensor, in the order a pack stores them.
    public static func tensorNames(layers: Int) -> [String] {
        var names = ["fc.weight", "fc.bias", "input_norm1.weight", "input_norm2.weight"]
        for l in 0..<layers {
            let p = "layers.\(l)."
            names += ["q_proj", "k_proj", "v_proj", "o_proj"].map { p + "self_attn.\($0).weight" }
            names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
            names += ["gate_proj", "up_proj", "down_proj"].map { p + "mlp.\($0).weight" }
        }
        return names
    }

    /// Names a published head may hold that bffn ignores (the target's embedding is used).
    public static let ignoredNames: Set<String> = ["embed_tokens.weight"]

    /// Whether `checkpoint` holds an EAGLE head (`fc.weight` and `input_norm1.weight`, no model embedding).
    public static func recognizes(_ checkpoint: Checkpoint) -> Bool {
        checkpoint.tensor(named: "fc.weight") != nil && checkpoint.tensor(named: "input_norm1.weight") != nil
            && checkpoint.tensor(named: "model.embed_tokens.weight") == nil
    }

    /// Builds a head from `config` and a lookup of its tensors by checkpoint name, checking every shape.
    /// - Throws: `.missingTensor` naming a missing tensor, `.shapeMismatch` naming a tensor of the wrong shape;
    ///   `file` is named in both.
    public init(config: EagleConfig, file: String?, tensor: (String) throws -> WeightMatrix?) throws {
        let H = config.hiddenSize, qw = config.heads * config.headDim, kw = config.kvHeads * config.headDim, I = config.intermediateSize
        func get(_ name: String, _ rows: Int, _ cols: Int) throws -> WeightMatrix {
            guard let m = try tensor(name) else { throw BFFNError(.missingTensor, "the EAGLE head lacks this tensor", file: file, field: name) }
            guard m.rows * m.cols == rows * cols, m.cols == cols || rows == 1 else {
                throw BFFNError(.shapeMismatch, "expected [\(rows), \(cols)], found [\(m.rows), \(m.cols)]", file: file, field: name)
            }
            return m.rows == rows ? m : WeightMatrix(base: m.base, type: m.type, rows: rows, cols: cols)
        }
        self.config = config
        fc = try get("fc.weight", H, 2 * H)
        fcBias = try get("fc.bias", 1, H)
        inputNorm1 = try get("input_norm1.weight", 1, H)
        inputNorm2 = try get("input_norm2.weight", 1, H)
        layers = try (0..<config.layers).map { l in
            let p = "layers.\(l)."
            return EagleLayer(q: try get(p + "self_attn.q_proj.weight", qw, H), k: try get(p + "self_attn.k_proj.weight", kw, H),
                              v: try get(p + "self_attn.v_proj.weight", kw, H), o: try get(p + "self_attn.o_proj.weight", H, qw),
                              inputNorm: try get(p + "input_layernorm.weight", 1, H), postNorm: try get(p + "post_attention_layernorm.weight", 1, H),
                              gate: try get(p + "mlp.gate_proj.weight", I, H), up: try get(p + "mlp.up_proj.weight", I, H),
                              down: try get(p + "mlp.down_proj.weight", H, I))
        }
    }

    /// Reads a head from a checkpoint folder (config.json with safetensors or `pytorch_model.bin`), weights mapped.
    /// - Throws: `.invalidConfig` for config keys, `.missingTensor` / `.shapeMismatch` naming the tensor,
    ///   `.unsupported` for an unknown tensor name (as the published loader refuses them), a non-contiguous
    ///   tensor or a dtype other than F32 / F16 / BF16; the readers' errors.
    public convenience init(checkpoint: Checkpoint) throws {
        let file = checkpoint.primaryFile
        guard let fcInfo = checkpoint.tensor(named: "fc.weight") else {
            throw BFFNError(.missingTensor, "not an EAGLE head: fc.weight is missing", file: file, field: "fc.weight")
        }
        guard fcInfo.shape.count == 2, fcInfo.shape[0] > 0, fcInfo.shape[1] == 2 * fcInfo.shape[0] else {
            throw BFFNError(.shapeMismatch, "fc.weight must be [H, 2H], found \(fcInfo.shape)", file: file, field: "fc.weight")
        }
        let config = try EagleConfig(config: checkpoint.config, hiddenSize: fcInfo.shape[0], file: checkpoint.configPath)
        let known = Set(EagleHead.tensorNames(layers: config.layers))
        for t in checkpoint.tensors where !known.contains(t.name) && !EagleHead.ignoredNames.contains(t.name) {
            throw BFFNError(.unsupported, "an EAGLE head holds no tensor of this name", file: file, field: t.name)
        }
        var owners: [AnyObject] = []
        try self.init(config: config, file: file) { name in
            guard let t = checkpoint.tensor(named: name) else { return nil }
            guard t.isContiguous else { throw BFFNError(.unsupported, "a strided EAGLE tensor is not supported", file: file, field: name) }
            let bytes = try checkpoint.bytes(of: t)
            owners.append(bytes)
            return try ModelWeights.view(bytes.bytes, dtype: t.dtype, shape: t.shape, rows: nil, cols: nil, name: name)
        }
        keepAlive = owners + [checkpoint]
    }

    /// Parameters (elements of every matrix).
    public var parameterCount: Int {
        ([fc, fcBias, inputNorm1, inputNorm2] + layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.inputNorm, $0.postNorm, $0.gate, $0.up, $0.down] })
            .reduce(0) { $0 + $1.rows * $1.cols }
    }

    /// Every matrix with its checkpoint name, in `tensorNames` order.
    public var namedMatrices: [(name: String, matrix: WeightMatrix)] {
        var all: [WeightMatrix] = [fc, fcBias, inputNorm1, inputNorm2]
        for l in layers { all += [l.q, l.k, l.v, l.o, l.inputNorm, l.postNorm, l.gate, l.up, l.down] }
        return Array(zip(EagleHead.tensorNames(layers: config.layers), all)).map { (name: $0.0, matrix: $0.1) }
    }

    /// Checks the head against a target of hidden size `hiddenSize`.
    /// - Throws: `.shapeMismatch` naming `fc.weight` when H differs.
    public func check(targetHiddenSize hiddenSize: Int, file: String?) throws {
        guard config.hiddenSize == hiddenSize else {
            throw BFFNError(.shapeMismatch, "the EAGLE head's hidden size \(config.hiddenSize) differs from the target's \(hiddenSize)",
                            file: file, field: "fc.weight")
        }
    }
}
