import BFFNCore

/// Recognises a BlockFFN (or dense MiniCPM) model from tensor names and shapes, checks that every tensor
/// the architecture needs is present with the right shape, and names tensors nothing uses.
public struct ModelRecognizer {
    /// The result of recognition.
    public struct Result: Sendable {
        public var architecture: ModelArchitecture
        /// Expert placement in layer 0 (nil for vanilla).
        public var expertGeometry: ExpertGeometry?
        /// Every tensor the architecture reads, in order, with its expected shape.
        public var required: [(name: String, shape: [Int])]
        /// Notes for the user (unused tensors, config disagreements).
        public var warnings: [String]
    }

    /// Recognises `tensors` (with `config`, which may be empty).
    /// - Throws: `.missingTensor` naming the first missing tensor, `.shapeMismatch` naming the first tensor
    ///   whose shape is wrong and the shape expected, `.invalidConfig` when the config contradicts the
    ///   tensors in a way that cannot be resolved (e.g. heads that do not divide the width).
    public static func recognize(tensors: [TensorInfo], config: ModelConfig, file: String? = nil) throws -> Result {
        var byName: [String: TensorInfo] = [:]
        for t in tensors { byName[t.name] = t }
        var warnings: [String] = []
        func shape(_ n: String) -> [Int]? { byName[n]?.shape }
        func need(_ n: String) throws -> [Int] {
            guard let s = shape(n) else {
                throw BFFNError(.missingTensor, "tensor needed to recognise the model is missing", file: file, field: n)
            }
            return s
        }
        func dim(_ n: String, _ rank: Int) throws -> [Int] {
            let s = try need(n)
            guard s.count == rank else {
                throw BFFNError(.shapeMismatch, "expected a \(rank)-D tensor, found shape \(Shape.describe(s))", file: file, field: n)
            }
            return s
        }

        let bmt = byName["input_embedding.weight"] != nil
        let names = bmt ? Names.bmt : Names.hf
        let emb = try dim(names.embedding, 2)
        let (V, H) = (emb[0], emb[1])
        if let h = config.hiddenSize, h != H {
            throw BFFNError(.invalidConfig, "hidden_size \(h) disagrees with the embedding width \(H)", file: file, field: "hidden_size")
        }
        if let v = config.vocabSize, v != V {
            throw BFFNError(.invalidConfig, "vocab_size \(v) disagrees with the embedding rows \(V)", file: file, field: "vocab_size")
        }
        // Layers: 0..<L must all be present.
        var layerIndices = Set<Int>()
        for t in tensors where t.name.hasPrefix(names.layerPrefix) {
            let rest = t.name.dropFirst(names.layerPrefix.count)
            if let dot = rest.firstIndex(of: "."), let l = Int(rest[..<dot]) { layerIndices.insert(l) }
        }
        let L = (layerIndices.max() ?? -1) + 1
        guard L > 0 else {
            throw BFFNError(.missingTensor, "no decoder layers found", file: file, field: "\(names.layerPrefix)0.*")
        }
        if let l = config.numHiddenLayers, l != L {
            throw BFFNError(.invalidConfig, "num_hidden_layers \(l) disagrees with the \(L) layers stored", file: file, field: "num_hidden_layers")
        }
        let p0 = names.layer(0)

        // Attention.
        let attention: ModelArchitecture.Attention
        var mla: ModelArchitecture.MLADims?
        let nh = config.numAttentionHeads
        var nkv: Int?
        var headDim: Int?
        if byName[p0 + names.qA] != nil || byName[p0 + names.kvA] != nil {
            attention = .mla
            if let t = config.attentionType, t != "mla" { warnings.append("config attention_type \"\(t)\" disagrees with the MLA tensors; using mla") }
            let qa = try dim(p0 + names.qA, 2)
            let kvaNorm = try dim(p0 + names.kvANorm, 1)
            let kva = try dim(p0 + names.kvA, 2)
            let kvLora = kvaNorm[0]
            guard kva[0] > kvLora else {
                throw BFFNError(.shapeMismatch, "rows \(kva[0]) leave no room for the rotary key after the \(kvLora)-wide latent", file: file, field: p0 + names.kvA)
            }
            let rope = config.qkRopeHeadDim ?? (kva[0] - kvLora)
            var vd: Int?
            if let nh {
                guard H % nh == 0 else {
                    throw BFFNError(.invalidConfig, "num_attention_heads \(nh) does not divide hidden_size \(H)", file: file, field: "num_attention_heads")
                }
                vd = H / nh
                if let v = config.vHeadDim, v != H / nh {
                    warnings.append("config v_head_dim \(v) differs from hidden_size / num_attention_heads = \(H / nh); using \(H / nh) as the published module does")
                }
            }
            mla = .init(qLoraRank: qa[0], kvLoraRank: config.kvLoraRank ?? kvLora, qkNopeHeadDim: config.qkNopeHeadDim,
                        qkRopeHeadDim: rope, vHeadDim: vd)
        } else if byName[p0 + names.q] != nil {
            attention = .gqa
            if let t = config.attentionType, t == "mla" { warnings.append("config attention_type \"mla\" disagrees with the q/k/v tensors; using gqa") }
            nkv = config.numKeyValueHeads ?? nh
            if let nh {
                headDim = config.headDim ?? (H % nh == 0 ? H / nh : nil)
                guard headDim != nil else {
                    throw BFFNError(.invalidConfig, "num_attention_heads \(nh) does not divide hidden_size \(H)", file: file, field: "num_attention_heads")
                }
                if let k = nkv, k <= 0 || nh % k != 0 {
                    throw BFFNError(.invalidConfig, "num_key_value_heads \(k) does not divide num_attention_heads \(nh)", file: file, field: "num_key_value_heads")
                }
            }
        } else {
            throw BFFNError(.missingTensor, "no attention weights in layer 0 (neither MLA q_a_proj nor q_proj)", file: file, field: p0 + names.q)
        }
        if nh == nil { warnings.append("no config.json: head counts are unknown, so attention shapes are checked only where they do not depend on them") }

        // FFN layout.
        let layout: ModelArchitecture.FFNLayout
        var E = 0, de = 0
        if bmt {
            layout = .bmt
            let r = try dim(p0 + names.router, 2)
            let win = try need(p0 + names.up)
            // The published converter transposes a router whose leading dim equals H.
            E = r[0] == H && r[1] != H ? r[1] : r[0]
            if r[0] == H && r[1] == H { warnings.append("router w_gate is [\(H), \(H)]: E equals H, so its orientation is ambiguous; reading it as [E, H]") }
            de = win.count == 3 ? win[1] : win[0] / max(E, 1)
        } else if byName[p0 + "mlp.experts.up_proj.weight"] != nil {
            layout = .fastmoe
        } else if byName[p0 + "mlp.mlp.up_proj"] != nil {
            layout = .megablocks
        } else if let up = shape(p0 + "mlp.up_proj") {
            layout = up.count == 3 ? .block : .blockLinear
        } else if byName[p0 + "mlp.gate_proj.weight"] != nil {
            layout = .vanilla
        } else {
            throw BFFNError(.missingTensor, "no FFN weights in layer 0 (no BlockFFN up_proj and no dense gate_proj)", file: file, field: p0 + "mlp.up_proj")
        }
        switch layout {
        case .vanilla:
            de = try dim(p0 + "mlp.gate_proj.weight", 2)[0]
        case .bmt:
            break
        default:
            let r = try dim(p0 + "mlp.router_proj.weight", 2)
            E = r[0]
            let upName = layout == .fastmoe ? "mlp.experts.up_proj.weight" : layout == .megablocks ? "mlp.mlp.up_proj" : "mlp.up_proj"
            let up = try need(p0 + upName)
            de = up.count == 3 ? up[1] : up[0] / max(E, 1)
            guard E > 0, de > 0, up.count == 3 || up[0] % E == 0 else {
                throw BFFNError(.shapeMismatch, "up projection rows \(up[0]) are not a multiple of the router's \(E) experts", file: file, field: p0 + upName)
            }
        }
        if layout != .vanilla, let ft = config.ffnType {
            let matches = (ft == "block_linear" && [.blockLinear, .megablocks, .bmt].contains(layout)) ||
                          (ft == "block" && [.block, .fastmoe].contains(layout))
            if !matches { warnings.append("config ffn_type \"\(ft)\" disagrees with the tensors, which are laid out as \(layout.rawValue); using the tensors") }
        }
        if let ce = config.numExperts, layout != .vanilla, ce != E {
            warnings.append("config num_experts \(ce) disagrees with the router's \(E) rows; using \(E)")
        }
        if let cs = config.expertSize, layout != .vanilla, cs != de {
            warnings.append("config expert_size \(cs) disagrees with the tensors' expert width \(de); using \(de)")
        }

        // Router norm (DECISIONS.md 2).
        var routerNorm: ModelArchitecture.RouterNorm?
        if layout != .vanilla {
            let normName = p0 + names.routerNorm
            if let n = config.normAfterRouter {
                routerNorm = ModelArchitecture.RouterNorm(rawValue: n)
                if n == "rms" && byName[normName] == nil {
                    throw BFFNError(.missingTensor, "norm_after_router is \"rms\" but the router norm weight is missing", file: file, field: normName)
                }
            } else {
                routerNorm = byName[normName] != nil ? .rms : .sum
            }
        }

        // Tied embeddings (DECISIONS.md 8).
        var tied = config.tieWordEmbeddings ?? true
        if !tied && byName[names.head] == nil {
            warnings.append("tie_word_embeddings is false but \(names.head) is missing; using the embedding as the head")
            tied = true
        }

        let arch = ModelArchitecture(attention: attention, ffnLayout: layout, routerNorm: routerNorm, hiddenSize: H,
                                     numLayers: L, numExperts: E, expertSize: de, vocabSize: V,
                                     numAttentionHeads: nh, numKeyValueHeads: attention == .gqa ? nkv : nil,
                                     headDim: headDim, mla: mla, tiedEmbeddings: tied)
        let required = requiredTensors(arch, names: names, hasHead: byName[names.head] != nil)
        for r in required {
            guard let t = byName[r.name] else {
                throw BFFNError(.missingTensor, "tensor is missing; expected shape \(describeExpected(r.shape))",
                                file: file, field: r.name)
            }
            let ok = t.shape.count == r.shape.count && zip(t.shape, r.shape).allSatisfy { $1 < 0 || $0 == $1 }
            guard ok else {
                throw BFFNError(.shapeMismatch, "shape is \(Shape.describe(t.shape)) but the architecture needs \(describeExpected(r.shape))",
                                file: file, field: r.name)
            }
            guard t.dtype.isFloatingPoint else {
                throw BFFNError(.shapeMismatch, "weights must be floating point, found \(t.dtype.rawValue)", file: file, field: r.name)
            }
        }
        let used = Set(required.map(\.name))
        for t in tensors where !used.contains(t.name) {
            if t.name == names.head && tied { continue }
            warnings.append("tensor '\(t.name)' is not used by the \(layout.rawValue) architecture")
        }
        return Result(architecture: arch, expertGeometry: geometry(arch, names: names, byName: byName),
                      required: required, warnings: warnings)
    }

    private static func describeExpected(_ s: [Int]) -> String {
        "[" + s.map { $0 < 0 ? "?" : String($0) }.joined(separator: ", ") + "]"
    }

    // MARK: - Names

    /// Tensor names of one naming scheme (HF or training-side bmt).
    struct Names {
        var embedding, finalNorm, head, layerPrefix: String
        var inputNorm, postNorm: String
        var qA, qANorm, qB, kvA, kvANorm, kvB, o: String
        var q, k, v, oVanilla: String
        var router, routerNorm, up, down: String

        func layer(_ l: Int) -> String { "\(layerPrefix)\(l)." }

        static let hf = Names(
            embedding: "model.embed_tokens.weight", finalNorm: "model.norm.weight", head: "lm_head.weight",
            layerPrefix: "model.layers.", inputNorm: "input_layernorm.weight", postNorm: "post_attention_layernorm.weight",
            qA: "self_attn.q_a_proj.weight", qANorm: "self_attn.q_a_layernorm.weight", qB: "self_attn.q_b_proj.weight",
            kvA: "self_attn.kv_a_proj_with_mqa.weight", kvANorm: "self_attn.kv_a_layernorm.weight",
            kvB: "self_attn.kv_b_proj.weight", o: "self_attn.o_proj.weight",
            q: "self_attn.q_proj.weight", k: "self_attn.k_proj.weight", v: "self_attn.v_proj.weight",
            oVanilla: "self_attn.o_proj.weight",
            router: "mlp.router_proj.weight", routerNorm: "mlp.router_norm.weight", up: "mlp.up_proj", down: "mlp.down_proj")

        static let bmt = Names(
            embedding: "input_embedding.weight", finalNorm: "encoder.output_layernorm.weight", head: "lm_head.weight",
            layerPrefix: "encoder.layers.", inputNorm: "self_att.layernorm_before_attention.weight",
            postNorm: "ffn.layernorm_before_ffn.weight",
            qA: "self_att.self_attention.q_down_proj.weight", qANorm: "self_att.self_attention.q_down_layernorm.weight",
            qB: "self_att.self_attention.q_up_proj.weight", kvA: "self_att.self_attention.kv_down_proj.weight",
            kvANorm: "self_att.self_attention.kv_down_layernorm.weight", kvB: "self_att.self_attention.kv_up_proj.weight",
            o: "self_att.self_attention.o_proj.weight",
            q: "self_att.self_attention.project_q.weight", k: "self_att.self_attention.project_k.weight",
            v: "self_att.self_attention.project_v.weight", oVanilla: "self_att.self_attention.attention_out.weight",
            router: "ffn.ffn.moe_router.w_gate", routerNorm: "ffn.ffn.router_norm.weight",
            up: "ffn.ffn.moe_experts.moe_w_in", down: "ffn.ffn.moe_experts.moe_w_out")
    }

    /// Every tensor `arch` reads, with its expected shape (-1 where the config does not pin it down).
    static func requiredTensors(_ a: ModelArchitecture, names n: Names, hasHead: Bool) -> [(name: String, shape: [Int])] {
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize, V = a.vocabSize
        var out: [(String, [Int])] = [(n.embedding, [V, H])]
        for l in 0..<a.numLayers {
            let p = n.layer(l)
            out.append((p + n.inputNorm, [H]))
            switch a.attention {
            case .mla:
                let m = a.mla!
                let nh = a.numAttentionHeads ?? -1
                let nope = m.qkNopeHeadDim ?? -1
                let vd = m.vHeadDim ?? -1
                func times(_ x: Int, _ y: Int) -> Int { x < 0 || y < 0 ? -1 : x * y }
                out.append((p + n.qA, [m.qLoraRank, H]))
                out.append((p + n.qANorm, [m.qLoraRank]))
                out.append((p + n.qB, [times(nh, nope < 0 ? -1 : nope + m.qkRopeHeadDim), m.qLoraRank]))
                out.append((p + n.kvA, [m.kvLoraRank + m.qkRopeHeadDim, H]))
                out.append((p + n.kvANorm, [m.kvLoraRank]))
                out.append((p + n.kvB, [times(nh, nope < 0 || vd < 0 ? -1 : nope + vd), m.kvLoraRank]))
                out.append((p + n.o, [H, times(nh, vd)]))
            case .gqa:
                let nh = a.numAttentionHeads ?? -1, nkv = a.numKeyValueHeads ?? -1, hd = a.headDim ?? -1
                func times(_ x: Int, _ y: Int) -> Int { x < 0 || y < 0 ? -1 : x * y }
                out.append((p + n.q, [times(nh, hd), H]))
                out.append((p + n.k, [times(nkv, hd), H]))
                out.append((p + n.v, [times(nkv, hd), H]))
                out.append((p + n.oVanilla, [H, times(nh, hd)]))
            }
            out.append((p + n.postNorm, [H]))
            switch a.ffnLayout {
            case .vanilla:
                out.append((p + "mlp.gate_proj.weight", [de, H]))
                out.append((p + "mlp.up_proj.weight", [de, H]))
                out.append((p + "mlp.down_proj.weight", [H, de]))
            case .blockLinear:
                out.append((p + n.router, [E, H]))
                if a.routerNorm == .rms { out.append((p + n.routerNorm, [E])) }
                out.append((p + n.up, [E * de, H]))
                out.append((p + n.down, [H, E * de]))
            case .block:
                out.append((p + n.router, [E, H]))
                if a.routerNorm == .rms { out.append((p + n.routerNorm, [E])) }
                out.append((p + n.up, [E, de, H]))
                out.append((p + n.down, [E, H, de]))
            case .fastmoe:
                out.append((p + n.router, [E, H]))
                if a.routerNorm == .rms { out.append((p + n.routerNorm, [E])) }
                out.append((p + "mlp.experts.up_proj.weight", [E, de, H]))
                out.append((p + "mlp.experts.down_proj.weight", [E, H, de]))
            case .megablocks:
                out.append((p + n.router, [E, H]))
                if a.routerNorm == .rms { out.append((p + n.routerNorm, [E])) }
                out.append((p + "mlp.mlp.up_proj", [E * de, H]))
                out.append((p + "mlp.mlp.down_proj", [E * de, H]))
            case .bmt:
                out.append((p + n.router, [-1, -1]))
                if a.routerNorm == .rms { out.append((p + n.routerNorm, [E])) }
                out.append((p + n.up, [E * de, H]))
                out.append((p + n.down, [H, E * de]))
            }
        }
        out.append((n.finalNorm, [H]))
        if !a.tiedEmbeddings { out.append((n.head, [V, H])) }
        return out
    }

    static func geometry(_ a: ModelArchitecture, names n: Names, byName: [String: TensorInfo]) -> ExpertGeometry? {
        let p = n.layer(0), H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        func contiguous(_ name: String) -> Bool { byName[name]?.isContiguous ?? true }
        switch a.ffnLayout {
        case .vanilla:
            return nil
        case .blockLinear, .bmt:
            let up = p + n.up, down = p + n.down
            return ExpertGeometry(upTensor: up, upExpertStride: de * H, upContiguous: contiguous(up), downTensor: down,
                                  downPlacement: "columns e*\(de)..<(e+1)*\(de) of [\(H), \(E * de)]: \(H) runs of \(de) elements, stride \(E * de)",
                                  downContiguous: false, upPlacement: "rows e*\(de)..<(e+1)*\(de) of [\(E * de), \(H)]: one slab of \(de * H) elements")
        case .block, .fastmoe:
            let up = p + (a.ffnLayout == .block ? n.up : "mlp.experts.up_proj.weight")
            let down = p + (a.ffnLayout == .block ? n.down : "mlp.experts.down_proj.weight")
            return ExpertGeometry(upTensor: up, upExpertStride: de * H, upContiguous: contiguous(up), downTensor: down,
                                  downPlacement: "slab [e] of [\(E), \(H), \(de)]: one slab of \(H * de) elements",
                                  downContiguous: contiguous(down), upPlacement: "slab [e] of [\(E), \(de), \(H)]: one slab of \(de * H) elements")
        case .megablocks:
            let up = p + "mlp.mlp.up_proj", down = p + "mlp.mlp.down_proj"
            return ExpertGeometry(upTensor: up, upExpertStride: de * H, upContiguous: contiguous(up), downTensor: down,
                                  downPlacement: "rows e*\(de)..<(e+1)*\(de) of the transposed [\(E * de), \(H)]: one slab of \(de * H) elements",
                                  downContiguous: contiguous(down), upPlacement: "rows e*\(de)..<(e+1)*\(de) of [\(E * de), \(H)]: one slab of \(de * H) elements")
        }
    }
}
