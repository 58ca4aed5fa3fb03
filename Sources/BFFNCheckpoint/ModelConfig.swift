import BFFNCore

/// The parts of a MiniCPM/BlockFFN `config.json` that bffn reads, parsed strictly with json-c.
///
/// Every key is optional (checkpoints differ); a key that is present with the wrong JSON type is an error
/// naming it. Keys not listed here are kept in `raw` and otherwise ignored. Floating-point keys accept
/// integers (`"scale_emb": 12`); integer keys do not accept fractions.
public struct ModelConfig: Sendable {
    public var vocabSize: Int?
    public var hiddenSize: Int?
    public var numHiddenLayers: Int?
    public var numAttentionHeads: Int?
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var attentionType: String?
    public var qLoraRank: Int?
    public var kvLoraRank: Int?
    public var qkNopeHeadDim: Int?
    public var qkRopeHeadDim: Int?
    public var vHeadDim: Int?
    public var ffnType: String?
    public var hiddenAct: String?
    public var routerAct: String?
    public var expertSize: Int?
    public var numExperts: Int?
    public var intermediateSize: Int?
    public var normAfterRouter: String?
    public var normScale: Double?
    public var rmsNormEps: Double?
    public var ropeTheta: Double?
    /// `rope_scaling`: nil when absent or null.
    public var ropeScaling: RopeScaling?
    public var scaleEmb: Double?
    public var dimModelBase: Double?
    public var scaleDepth: Double?
    public var tieWordEmbeddings: Bool?
    public var attentionBias: Bool?
    public var blockImplementation: String?
    public var torchDtype: String?
    public var maxPositionEmbeddings: Int?
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]?
    /// The whole document.
    public var raw: JSONValue

    /// `rope_scaling` as the config gives it.
    public struct RopeScaling: Sendable, Equatable {
        /// "linear" or "dynamic".
        public var type: String
        /// The scaling factor (> 0).
        public var factor: Double
    }

    /// An empty configuration (for checkpoints without config.json).
    public init() { raw = .object([JSONMember]()) }

    /// Reads and parses `path`.
    /// - Throws: `BFFNError.invalidConfig` naming the key whose type or value is wrong, or the JSON errors of
    ///   `JSONValue.parse`.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        let json = try file.withBytes { try JSONValue.parse($0, file: path, what: "config.json") }
        try self.init(json: json, path: path)
    }

    /// Parses an already parsed document.
    public init(json: JSONValue, path: String) throws {
        guard json.objectMembers != nil else {
            throw BFFNError(.invalidConfig, "config.json must be a JSON object, found \(json.typeName)", file: path)
        }
        raw = json
        func fail(_ key: String, _ want: String, _ v: JSONValue) -> BFFNError {
            BFFNError(.invalidConfig, "'\(key)' must be \(want), found \(v.typeName)", file: path, field: key)
        }
        func int(_ key: String, positive: Bool = true) throws -> Int? {
            guard let v = json[key], v != .null else { return nil }
            guard let i = v.intValue else { throw fail(key, "an integer", v) }
            guard !positive || i > 0 else {
                throw BFFNError(.invalidConfig, "'\(key)' must be positive, found \(i)", file: path, field: key)
            }
            guard i < Int64(Int32.max) else {
                throw BFFNError(.invalidConfig, "'\(key)' is implausibly large (\(i))", file: path, field: key)
            }
            return Int(i)
        }
        func double(_ key: String) throws -> Double? {
            guard let v = json[key], v != .null else { return nil }
            guard let d = v.numberValue, d.isFinite else { throw fail(key, "a number", v) }
            return d
        }
        func string(_ key: String) throws -> String? {
            guard let v = json[key], v != .null else { return nil }
            guard let s = v.stringValue else { throw fail(key, "a string", v) }
            return s
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = json[key], v != .null else { return nil }
            guard let b = v.boolValue else { throw fail(key, "true or false", v) }
            return b
        }
        vocabSize = try int("vocab_size")
        hiddenSize = try int("hidden_size")
        numHiddenLayers = try int("num_hidden_layers")
        numAttentionHeads = try int("num_attention_heads")
        numKeyValueHeads = try int("num_key_value_heads")
        headDim = try int("head_dim")
        attentionType = try string("attention_type")
        qLoraRank = try int("q_lora_rank")
        kvLoraRank = try int("kv_lora_rank")
        qkNopeHeadDim = try int("qk_nope_head_dim")
        qkRopeHeadDim = try int("qk_rope_head_dim")
        vHeadDim = try int("v_head_dim")
        ffnType = try string("ffn_type")
        hiddenAct = try string("hidden_act")
        routerAct = try string("router_act")
        expertSize = try int("expert_size")
        numExperts = try int("num_experts")
        intermediateSize = try int("intermediate_size")
        normAfterRouter = try string("norm_after_router")
        normScale = try double("norm_scale")
        rmsNormEps = try double("rms_norm_eps")
        ropeTheta = try double("rope_theta")
        scaleEmb = try double("scale_emb")
        dimModelBase = try double("dim_model_base")
        scaleDepth = try double("scale_depth")
        tieWordEmbeddings = try bool("tie_word_embeddings")
        attentionBias = try bool("attention_bias")
        blockImplementation = try string("block_implementation")
        torchDtype = try string("torch_dtype")
        maxPositionEmbeddings = try int("max_position_embeddings")
        bosTokenId = try int("bos_token_id", positive: false)
        if let v = json["eos_token_id"], v != .null {
            if let i = v.intValue { eosTokenIds = [Int(i)] }
            else if let a = v.arrayElements {
                eosTokenIds = try a.map { guard let i = $0.intValue else { throw fail("eos_token_id", "an integer or a list of integers", v) }; return Int(i) }
            } else { throw fail("eos_token_id", "an integer or a list of integers", v) }
        }
        if let norm = normAfterRouter, !["rms", "sum", "none"].contains(norm) {
            throw BFFNError(.invalidConfig, "'norm_after_router' must be \"rms\", \"sum\" or \"none\", found \"\(norm)\"", file: path, field: "norm_after_router")
        }
        if let eps = rmsNormEps, eps <= 0 {
            throw BFFNError(.invalidConfig, "'rms_norm_eps' must be positive", file: path, field: "rms_norm_eps")
        }
        if let v = json["rope_scaling"], v != .null {
            guard v.objectMembers != nil else { throw fail("rope_scaling", "null or an object", v) }
            guard let type = (v["type"] ?? v["rope_type"])?.stringValue else {
                throw BFFNError(.invalidConfig, "'rope_scaling' needs a string 'type'", file: path, field: "rope_scaling.type")
            }
            guard type == "linear" || type == "dynamic" else {
                throw BFFNError(.invalidConfig, "rope_scaling type \"\(type)\" is not supported (linear, dynamic)", file: path, field: "rope_scaling.type")
            }
            guard let factor = v["factor"]?.numberValue, factor > 0 else {
                throw BFFNError(.invalidConfig, "'rope_scaling.factor' must be a positive number", file: path, field: "rope_scaling.factor")
            }
            ropeScaling = RopeScaling(type: type, factor: factor)
        }
    }
}
