/// The tensor names of one naming scheme: the published (Hugging Face) names every converted checkpoint and
/// every pack uses, or the training-side ("bmt") names of the published training code. The one place a
/// tensor name is spelled: the recogniser, the loaders, the pack writer, the exporter and synth all read them
/// here (docs/model.md lists them with their shapes).
public struct TensorNames: Sendable, Equatable {
    /// Token embedding [V, H].
    public var embedding: String
    /// Final RMSNorm weight [H].
    public var finalNorm: String
    /// LM head [V, H] (absent when tied to the embedding).
    public var head: String
    /// What every per-layer name starts with, before the layer index.
    public var layerPrefix: String

    /// Per layer (after `layer(l)`): the RMSNorm before attention and the one before the FFN.
    public var inputNorm: String, postNorm: String
    /// Per layer: MLA attention's query down/up projections with the latent norm, the key/value down
    /// projection (with the shared rotary key) with its norm, the key/value up projection, and the output.
    public var qA: String, qANorm: String, qB: String, kvA: String, kvANorm: String, kvB: String, mlaOutput: String
    /// Per layer: GQA/MHA attention's query, key, value and output projections.
    public var q: String, k: String, v: String, gqaOutput: String
    /// Per layer: the BlockFFN router [E, H] and its RMSNorm weight [E].
    public var router: String, routerNorm: String
    /// Per layer: the dense (vanilla) gated FFN.
    public var gate: String, denseUp: String, denseDown: String
    /// Per layer: the expert tensors of each BlockFFN layout this scheme has.
    public var experts: [ModelArchitecture.FFNLayout: ExpertTensorNames]

    /// The name prefix of layer `l` ("model.layers.3.").
    public func layer(_ l: Int) -> String { "\(layerPrefix)\(l)." }

    /// Layer `l`'s expert tensors in `layout` (nil: the scheme has no such layout).
    public func experts(_ layout: ModelArchitecture.FFNLayout, layer l: Int) -> ExpertTensorNames? {
        experts[layout].map { ExpertTensorNames(up: layer(l) + $0.up, down: layer(l) + $0.down) }
    }

    /// The names of one layout's up and down expert tensors.
    public struct ExpertTensorNames: Sendable, Equatable {
        public var up: String, down: String
        /// Names an up and a down tensor.
        public init(up: String, down: String) {
            self.up = up
            self.down = down
        }
    }

    /// The scheme of a layout: training-side names for `.bmt`, the published names otherwise.
    public static func of(_ layout: ModelArchitecture.FFNLayout) -> TensorNames { layout == .bmt ? .training : .published }

    /// The published (Hugging Face) names: what converted checkpoints, packs and exports use.
    public static let published = TensorNames(
        embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight", head: "lm_head.weight",
        layerPrefix: "model.layers.", inputNorm: "input_layernorm.weight", postNorm: "post_attention_layernorm.weight",
        qA: "self_attn.q_a_proj.weight", qANorm: "self_attn.q_a_layernorm.weight", qB: "self_attn.q_b_proj.weight",
        kvA: "self_attn.kv_a_proj_with_mqa.weight", kvANorm: "self_attn.kv_a_layernorm.weight",
        kvB: "self_attn.kv_b_proj.weight", mlaOutput: "self_attn.o_proj.weight",
        q: "self_attn.q_proj.weight", k: "self_attn.k_proj.weight", v: "self_attn.v_proj.weight",
        gqaOutput: "self_attn.o_proj.weight",
        router: "mlp.router_proj.weight", routerNorm: "mlp.router_norm.weight",
        gate: "mlp.gate_proj.weight", denseUp: "mlp.up_proj.weight", denseDown: "mlp.down_proj.weight",
        experts: [
            .blockLinear: ExpertTensorNames(up: "mlp.up_proj", down: "mlp.down_proj"),
            .block: ExpertTensorNames(up: "mlp.up_proj", down: "mlp.down_proj"),
            .fastmoe: ExpertTensorNames(up: "mlp.experts.up_proj.weight", down: "mlp.experts.down_proj.weight"),
            .megablocks: ExpertTensorNames(up: "mlp.mlp.up_proj", down: "mlp.mlp.down_proj"),
        ])

    /// The training-side names of the published training code (`encoder.layers.{l}.…`).
    public static let training = TensorNames(
        embedding: "input_embedding.weight", finalNorm: "encoder.output_layernorm.weight", head: "lm_head.weight",
        layerPrefix: "encoder.layers.", inputNorm: "self_att.layernorm_before_attention.weight",
        postNorm: "ffn.layernorm_before_ffn.weight",
        qA: "self_att.self_attention.q_down_proj.weight", qANorm: "self_att.self_attention.q_down_layernorm.weight",
        qB: "self_att.self_attention.q_up_proj.weight", kvA: "self_att.self_attention.kv_down_proj.weight",
        kvANorm: "self_att.self_attention.kv_down_layernorm.weight", kvB: "self_att.self_attention.kv_up_proj.weight",
        mlaOutput: "self_att.self_attention.o_proj.weight",
        q: "self_att.self_attention.project_q.weight", k: "self_att.self_attention.project_k.weight",
        v: "self_att.self_attention.project_v.weight", gqaOutput: "self_att.self_attention.attention_out.weight",
        router: "ffn.ffn.moe_router.w_gate", routerNorm: "ffn.ffn.router_norm.weight",
        gate: "mlp.gate_proj.weight", denseUp: "mlp.up_proj.weight", denseDown: "mlp.down_proj.weight",
        experts: [.bmt: ExpertTensorNames(up: "ffn.ffn.moe_experts.moe_w_in", down: "ffn.ffn.moe_experts.moe_w_out")])
}
