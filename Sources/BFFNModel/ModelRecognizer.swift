import BFFNCheckpoint
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
        let names: TensorNames = bmt ? .training : .published
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
        let published = TensorNames.published

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
            let win = try need(names.experts(.bmt, layer: 0)!.up)
            // The published converter transposes a router whose leading dim equals H.
            E = r[0] == H && r[1] != H ? r[1] : r[0]
            if r[0] == H && r[1] == H { warnings.append("router w_gate is [\(H), \(H)]: E equals H, so its orientation is ambiguous; reading it as [E, H]") }
            de = win.count == 3 ? win[1] : win[0] / max(E, 1)
        } else if byName[published.experts(.fastmoe, layer: 0)!.up] != nil {
            layout = .fastmoe
        } else if byName[published.experts(.megablocks, layer: 0)!.up] != nil {
            layout = .megablocks
        } else if let up = shape(published.experts(.blockLinear, layer: 0)!.up) {
            layout = up.count == 3 ? .block : .blockLinear
        } else if byName[p0 + published.gate] != nil {
            layout = .vanilla
        } else {
            throw BFFNError(.missingTensor, "no FFN weights in layer 0 (no BlockFFN up_proj and no dense gate_proj)", file: file,
                            field: published.experts(.blockLinear, layer: 0)!.up)
        }
        switch layout {
        case .vanilla:
            de = try dim(p0 + names.gate, 2)[0]
        case .bmt:
            break
        default:
            let r = try dim(p0 + names.router, 2)
            E = r[0]
            let upName = names.experts(layout, layer: 0)!.up
            let up = try need(upName)
            de = up.count == 3 ? up[1] : up[0] / max(E, 1)
            guard E > 0, de > 0, up.count == 3 || up[0] % E == 0 else {
                throw BFFNError(.shapeMismatch, "up projection rows \(up[0]) are not a multiple of the router's \(E) experts", file: file, field: upName)
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

        // Router norm (docs/model.md, decision 2).
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

        // Tied embeddings (docs/model.md, decision 8).
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

    /// Every tensor `arch` reads, with its expected shape (-1 where the config does not pin it down).
    static func requiredTensors(_ a: ModelArchitecture, names n: TensorNames, hasHead: Bool) -> [(name: String, shape: [Int])] {
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
                out.append((p + n.mlaOutput, [H, times(nh, vd)]))
            case .gqa:
                let nh = a.numAttentionHeads ?? -1, nkv = a.numKeyValueHeads ?? -1, hd = a.headDim ?? -1
                func times(_ x: Int, _ y: Int) -> Int { x < 0 || y < 0 ? -1 : x * y }
                out.append((p + n.q, [times(nh, hd), H]))
                out.append((p + n.k, [times(nkv, hd), H]))
                out.append((p + n.v, [times(nkv, hd), H]))
                out.append((p + n.gqaOutput, [H, times(nh, hd)]))
            }
            out.append((p + n.postNorm, [H]))
            if a.ffnLayout == .vanilla {
                out.append((p + n.gate, [de, H]))
                out.append((p + n.denseUp, [de, H]))
                out.append((p + n.denseDown, [H, de]))
            } else {
                out.append((p + n.router, a.ffnLayout == .bmt ? [-1, -1] : [E, H]))
                if a.routerNorm == .rms { out.append((p + n.routerNorm, [E])) }
                let x = n.experts(a.ffnLayout, layer: l)!
                switch a.ffnLayout {
                case .blockLinear, .bmt:
                    out.append((x.up, [E * de, H]))
                    out.append((x.down, [H, E * de]))
                case .block, .fastmoe:
                    out.append((x.up, [E, de, H]))
                    out.append((x.down, [E, H, de]))
                case .megablocks:
                    out.append((x.up, [E * de, H]))
                    out.append((x.down, [E * de, H]))
                case .vanilla:
                    break
                }
            }
        }
        out.append((n.finalNorm, [H]))
        if !a.tiedEmbeddings { out.append((n.head, [V, H])) }
        return out
    }

    static func geometry(_ a: ModelArchitecture, names n: TensorNames, byName: [String: TensorInfo]) -> ExpertGeometry? {
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        func contiguous(_ name: String) -> Bool { byName[name]?.isContiguous ?? true }
        switch a.ffnLayout {
        case .vanilla:
            return nil
        case .blockLinear, .bmt:
            let x = n.experts(a.ffnLayout, layer: 0)!, up = x.up, down = x.down
            return ExpertGeometry(upTensor: up, upExpertStride: de * H, upContiguous: contiguous(up), downTensor: down,
                                  downPlacement: "columns e*\(de)..<(e+1)*\(de) of [\(H), \(E * de)]: \(H) runs of \(de) elements, stride \(E * de)",
                                  downContiguous: false, upPlacement: "rows e*\(de)..<(e+1)*\(de) of [\(E * de), \(H)]: one slab of \(de * H) elements")
        case .block, .fastmoe:
            let x = n.experts(a.ffnLayout, layer: 0)!, up = x.up, down = x.down
            return ExpertGeometry(upTensor: up, upExpertStride: de * H, upContiguous: contiguous(up), downTensor: down,
                                  downPlacement: "slab [e] of [\(E), \(H), \(de)]: one slab of \(H * de) elements",
                                  downContiguous: contiguous(down), upPlacement: "slab [e] of [\(E), \(de), \(H)]: one slab of \(de * H) elements")
        case .megablocks:
            let x = n.experts(a.ffnLayout, layer: 0)!, up = x.up, down = x.down
            return ExpertGeometry(upTensor: up, upExpertStride: de * H, upContiguous: contiguous(up), downTensor: down,
                                  downPlacement: "rows e*\(de)..<(e+1)*\(de) of the transposed [\(E * de), \(H)]: one slab of \(de * H) elements",
                                  downContiguous: contiguous(down), upPlacement: "rows e*\(de)..<(e+1)*\(de) of [\(E * de), \(H)]: one slab of \(de * H) elements")
        }
    }
}
