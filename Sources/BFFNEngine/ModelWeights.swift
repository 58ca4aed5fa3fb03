import BFFNCheckpoint
import BFFNCore
import BFFNKernels

/// How one expert's down-projection is stored.
public enum ExpertDown: @unchecked Sendable {
    /// [H, de] rows (a column band of block_linear's [H, E·de], or a 3-D slab): y_j = down_j · u.
    case rows(WeightMatrix)
    /// [de, H] rows (megablocks stores Wdownᵀ): y = Σ_i u_i · row_i.
    case transposed(WeightMatrix)
}

/// The weights of one decoder layer, as views into the checkpoint (no float32 copy).
public struct LayerWeights: @unchecked Sendable {
    public var inputNorm: WeightMatrix
    public var postNorm: WeightMatrix
    // MLA
    public var qA: WeightMatrix?, qANorm: WeightMatrix?, qB: WeightMatrix?
    public var kvA: WeightMatrix?, kvANorm: WeightMatrix?, kvB: WeightMatrix?
    // GQA
    public var q: WeightMatrix?, k: WeightMatrix?, v: WeightMatrix?
    public var o: WeightMatrix
    // BlockFFN
    public var router: WeightMatrix?
    public var routerNorm: WeightMatrix?
    /// Per expert: up rows [de, H].
    public var expertUp: [WeightMatrix] = []
    /// Per expert: the down weights.
    public var expertDown: [ExpertDown] = []
    // Dense FFN
    public var gate: WeightMatrix?, up: WeightMatrix?, down: WeightMatrix?
}

/// Every weight the engine reads, resolved from a checkpoint for any recognised layout.
public final class ModelWeights: @unchecked Sendable {
    public let architecture: ModelArchitecture
    public let config: ModelConfig
    public let embedding: WeightMatrix
    public let finalNorm: WeightMatrix
    public let head: WeightMatrix
    public let layers: [LayerWeights]
    /// Bytes of one expert's weights (its up and down parts) in one layer.
    public let bytesPerExpert: Int
    /// Bytes read per token outside the experts: attention, router, norms and the LM head (one embedding row).
    public let nonExpertBytesPerToken: Int
    private var keepAlive: [LoadedBytes] = []

    /// Every distinct memory region the weights live in (file mappings, gathered copies), for measuring the
    /// read bandwidth of the very memory decoding streams.
    public var weightRegions: [UnsafeRawBufferPointer] {
        var seen = Set<UnsafeRawPointer>()
        return keepAlive.compactMap { b in
            guard let base = b.bytes.baseAddress, seen.insert(base).inserted else { return nil }
            return b.bytes
        }
    }

    /// Resolves the weights of `checkpoint`.
    /// - Throws: recognition errors, and `.unsupported` for weight dtypes the kernels do not read (they read
    ///   F32, F16 and BF16).
    public init(checkpoint: Checkpoint) throws {
        let rec = try checkpoint.recognize()
        architecture = rec.architecture
        config = checkpoint.config
        let a = rec.architecture
        let bmt = a.ffnLayout == .bmt
        var keep: [LoadedBytes] = []
        func matrix(_ name: String, rows: Int? = nil, cols: Int? = nil) throws -> WeightMatrix {
            guard let t = checkpoint.tensor(named: name) else {
                throw BFFNError(.missingTensor, "tensor is missing", field: name)
            }
            let type: WeightType
            switch t.dtype {
            case .f32: type = .f32
            case .f16: type = .f16
            case .bf16: type = .bf16
            default: throw BFFNError(.unsupported, "the engine reads F32, F16 and BF16 weights, not \(t.dtype.rawValue)", field: name)
            }
            let b = try checkpoint.bytes(of: t)
            keep.append(b)
            let r = rows ?? (t.shape.count >= 2 ? t.shape[0] : 1)
            let c = cols ?? (t.shape.count >= 2 ? t.shape.dropFirst().reduce(1, *) : (t.shape.first ?? 1))
            let base = b.bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!
            return WeightMatrix(base: base, type: type, rows: r, cols: c)
        }
        func vector(_ name: String) throws -> WeightMatrix {
            let m = try matrix(name)
            return WeightMatrix(base: m.base, type: m.type, rows: 1, cols: m.rows * m.cols)
        }
        let pre = bmt ? "encoder.layers." : "model.layers."
        embedding = try matrix(bmt ? "input_embedding.weight" : "model.embed_tokens.weight")
        finalNorm = try vector(bmt ? "encoder.output_layernorm.weight" : "model.norm.weight")
        head = a.tiedEmbeddings ? embedding : try matrix("lm_head.weight")
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        var layers: [LayerWeights] = []
        for l in 0..<a.numLayers {
            let p = "\(pre)\(l)."
            let att = bmt ? "self_att.self_attention." : "self_attn."
            var lw = LayerWeights(inputNorm: try vector(p + (bmt ? "self_att.layernorm_before_attention.weight" : "input_layernorm.weight")),
                                  postNorm: try vector(p + (bmt ? "ffn.layernorm_before_ffn.weight" : "post_attention_layernorm.weight")),
                                  o: try matrix(p + att + (bmt && a.attention == .gqa ? "attention_out.weight" : "o_proj.weight")))
            switch a.attention {
            case .mla:
                lw.qA = try matrix(p + att + (bmt ? "q_down_proj.weight" : "q_a_proj.weight"))
                lw.qANorm = try vector(p + att + (bmt ? "q_down_layernorm.weight" : "q_a_layernorm.weight"))
                lw.qB = try matrix(p + att + (bmt ? "q_up_proj.weight" : "q_b_proj.weight"))
                lw.kvA = try matrix(p + att + (bmt ? "kv_down_proj.weight" : "kv_a_proj_with_mqa.weight"))
                lw.kvANorm = try vector(p + att + (bmt ? "kv_down_layernorm.weight" : "kv_a_layernorm.weight"))
                lw.kvB = try matrix(p + att + (bmt ? "kv_up_proj.weight" : "kv_b_proj.weight"))
            case .gqa:
                lw.q = try matrix(p + att + (bmt ? "project_q.weight" : "q_proj.weight"))
                lw.k = try matrix(p + att + (bmt ? "project_k.weight" : "k_proj.weight"))
                lw.v = try matrix(p + att + (bmt ? "project_v.weight" : "v_proj.weight"))
            }
            switch a.ffnLayout {
            case .vanilla:
                lw.gate = try matrix(p + "mlp.gate_proj.weight")
                lw.up = try matrix(p + "mlp.up_proj.weight")
                lw.down = try matrix(p + "mlp.down_proj.weight")
            default:
                let routerName = bmt ? p + "ffn.ffn.moe_router.w_gate" : p + "mlp.router_proj.weight"
                var router = try matrix(routerName)
                if bmt && router.rows == H && router.cols == E && E != H {
                    // The training-side router may be stored [H, E]: transpose once (it is small).
                    let t = UnsafeMutableRawBufferPointer.allocate(byteCount: E * H * 4, alignment: 64)
                    let f = t.baseAddress!.assumingMemoryBound(to: Float.self)
                    for e in 0..<E { for h in 0..<H { f[e * H + h] = router.element(h, e) } }
                    keep.append(LoadedBytes(owned: t, count: E * H * 4))
                    router = WeightMatrix(base: UnsafeRawPointer(t.baseAddress!), type: .f32, rows: E, cols: H)
                }
                lw.router = router
                if a.routerNorm == .rms { lw.routerNorm = try vector(p + (bmt ? "ffn.ffn.router_norm.weight" : "mlp.router_norm.weight")) }
                switch a.ffnLayout {
                case .blockLinear, .bmt:
                    let up = try matrix(p + (bmt ? "ffn.ffn.moe_experts.moe_w_in" : "mlp.up_proj"), rows: E * de, cols: H)
                    let down = try matrix(p + (bmt ? "ffn.ffn.moe_experts.moe_w_out" : "mlp.down_proj"), rows: H, cols: E * de)
                    lw.expertUp = (0..<E).map { up.rows($0 * de, de) }
                    lw.expertDown = (0..<E).map { .rows(down.columns($0 * de, de)) }
                case .block, .fastmoe:
                    let up = try matrix(p + (a.ffnLayout == .block ? "mlp.up_proj" : "mlp.experts.up_proj.weight"), rows: E * de, cols: H)
                    let down = try matrix(p + (a.ffnLayout == .block ? "mlp.down_proj" : "mlp.experts.down_proj.weight"), rows: E * H, cols: de)
                    lw.expertUp = (0..<E).map { up.rows($0 * de, de) }
                    lw.expertDown = (0..<E).map { .rows(down.rows($0 * H, H)) }
                case .megablocks:
                    let up = try matrix(p + "mlp.mlp.up_proj", rows: E * de, cols: H)
                    let down = try matrix(p + "mlp.mlp.down_proj", rows: E * de, cols: H)
                    lw.expertUp = (0..<E).map { up.rows($0 * de, de) }
                    lw.expertDown = (0..<E).map { .transposed(down.rows($0 * de, de)) }
                case .vanilla:
                    break
                }
            }
            layers.append(lw)
        }
        self.layers = layers
        bytesPerExpert = de * H * 2 * (layers.first?.expertUp.first?.type.size ?? 2)
        var other = head.byteCount + finalNorm.byteCount + embedding.cols * embedding.type.size
        for lw in layers {
            let mats = [lw.inputNorm, lw.postNorm, lw.o] + [lw.qA, lw.qANorm, lw.qB, lw.kvA, lw.kvANorm, lw.kvB, lw.q, lw.k, lw.v,
                                                            lw.router, lw.routerNorm, lw.gate, lw.up, lw.down].compactMap { $0 }
            other += mats.reduce(0) { $0 + $1.byteCount }
        }
        nonExpertBytesPerToken = other
        keepAlive = keep
    }
}
