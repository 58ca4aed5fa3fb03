import BFFNCore

extension ModelArchitecture {
    /// The architecture as a pack manifest records it (formats/bfpk.md, `architecture`): `attention`,
    /// `ffn_layout`, `router_norm`, `hidden_size`, `num_layers`, `num_experts`, `expert_size`, `vocab_size`,
    /// `num_attention_heads`, `num_key_value_heads`, `head_dim`, `tied_embeddings`, and `mla` (the MLA ranks
    /// and head widths, or null). `init(json:fail:)` reads it back.
    public var json: JSONValue {
        let mlaJSON: JSONValue = mla.map { x in
            .object([("q_lora_rank", .integer(x.qLoraRank)), ("kv_lora_rank", .integer(x.kvLoraRank)),
                     ("qk_nope_head_dim", x.qkNopeHeadDim.map { .integer($0) } ?? .null),
                     ("qk_rope_head_dim", .integer(x.qkRopeHeadDim)), ("v_head_dim", x.vHeadDim.map { .integer($0) } ?? .null)])
        } ?? .null
        return .object([
            ("attention", .string(attention.rawValue)), ("ffn_layout", .string(ffnLayout.rawValue)),
            ("router_norm", routerNorm.map { .string($0.rawValue) } ?? .null), ("hidden_size", .integer(hiddenSize)),
            ("num_layers", .integer(numLayers)), ("num_experts", .integer(numExperts)), ("expert_size", .integer(expertSize)),
            ("vocab_size", .integer(vocabSize)), ("num_attention_heads", numAttentionHeads.map { .integer($0) } ?? .null),
            ("num_key_value_heads", numKeyValueHeads.map { .integer($0) } ?? .null), ("head_dim", headDim.map { .integer($0) } ?? .null),
            ("tied_embeddings", .bool(tiedEmbeddings)),
            ("mla", mlaJSON),
        ])
    }

    /// Reads `json`'s spelling back (a manifest's `architecture`).
    /// - Throws: what `fail` makes of (field, reason) for a value that is not an object, a missing or unknown
    ///   `attention`, `ffn_layout` or `tied_embeddings`, a size that is not a non-negative integer, or an `mla`
    ///   object without its ranks.
    public init(json v: JSONValue?, fail: (_ field: String, _ reason: String) -> BFFNError) throws {
        guard let v, v.objectMembers != nil else { throw fail("architecture", "'architecture' must be an object") }
        func int(_ k: String) throws -> Int {
            guard let i = v[k]?.intValue, i >= 0 else { throw fail("architecture.\(k)", "'\(k)' must be a non-negative integer") }
            return Int(i)
        }
        func optInt(_ k: String) -> Int? { v[k]?.intValue.map(Int.init) }
        guard let att = v["attention"]?.stringValue.flatMap(Attention.init(rawValue:)),
              let layout = v["ffn_layout"]?.stringValue.flatMap(FFNLayout.init(rawValue:)),
              let tied = v["tied_embeddings"]?.boolValue
        else { throw fail("architecture", "'attention', 'ffn_layout' or 'tied_embeddings' is missing or unknown") }
        var mla: MLADims?
        if let m = v["mla"], m != .null {
            guard let q = m["q_lora_rank"]?.intValue, let kv = m["kv_lora_rank"]?.intValue, let rope = m["qk_rope_head_dim"]?.intValue
            else { throw fail("architecture.mla", "'mla' lacks a rank") }
            mla = .init(qLoraRank: Int(q), kvLoraRank: Int(kv), qkNopeHeadDim: m["qk_nope_head_dim"]?.intValue.map(Int.init),
                        qkRopeHeadDim: Int(rope), vHeadDim: m["v_head_dim"]?.intValue.map(Int.init))
        }
        self.init(attention: att, ffnLayout: layout,
                  routerNorm: v["router_norm"]?.stringValue.flatMap(RouterNorm.init(rawValue:)),
                  hiddenSize: try int("hidden_size"), numLayers: try int("num_layers"), numExperts: try int("num_experts"),
                  expertSize: try int("expert_size"), vocabSize: try int("vocab_size"),
                  numAttentionHeads: optInt("num_attention_heads"), numKeyValueHeads: optInt("num_key_value_heads"),
                  headDim: optInt("head_dim"), mla: mla, tiedEmbeddings: tied)
    }
}
