import BFFNCore
import BFFNModel

extension PackWriter {
    /// The manifest's `architecture` object (formats/bfpk.md).
    static func architectureJSON(_ a: ModelArchitecture) -> JSONValue {
        var m: [(String, JSONValue)] = [
            ("attention", .string(a.attention.rawValue)), ("ffn_layout", .string(a.ffnLayout.rawValue)),
            ("router_norm", a.routerNorm.map { .string($0.rawValue) } ?? .null), ("hidden_size", .integer(a.hiddenSize)),
            ("num_layers", .integer(a.numLayers)), ("num_experts", .integer(a.numExperts)), ("expert_size", .integer(a.expertSize)),
            ("vocab_size", .integer(a.vocabSize)), ("num_attention_heads", a.numAttentionHeads.map { .integer($0) } ?? .null),
            ("num_key_value_heads", a.numKeyValueHeads.map { .integer($0) } ?? .null), ("head_dim", a.headDim.map { .integer($0) } ?? .null),
            ("tied_embeddings", .bool(a.tiedEmbeddings)),
        ]
        if let x = a.mla {
            m.append(("mla", .object([("q_lora_rank", .integer(x.qLoraRank)), ("kv_lora_rank", .integer(x.kvLoraRank)),
                                      ("qk_nope_head_dim", x.qkNopeHeadDim.map { .integer($0) } ?? .null),
                                      ("qk_rope_head_dim", .integer(x.qkRopeHeadDim)), ("v_head_dim", x.vHeadDim.map { .integer($0) } ?? .null)])))
        } else {
            m.append(("mla", .null))
        }
        return .object(m)
    }
}
