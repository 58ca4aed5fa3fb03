import BFFNKernels

/// The weights of one decoder layer, as views into the checkpoint or pack (no float32 copy).
public struct LayerWeights: Sendable {
    /// RMSNorm weight [1, H] before attention.
    public var inputNorm: WeightMatrix
    /// RMSNorm weight [1, H] before the FFN (applied to the residual stream after attention).
    public var postNorm: WeightMatrix
    /// The attention variant's projections.
    public var attention: AttentionWeights
    /// The FFN: BlockFFN experts or a dense gated FFN.
    public var ffn: FFNWeights

    /// Creates a layer from its parts.
    public init(inputNorm: WeightMatrix, postNorm: WeightMatrix, attention: AttentionWeights, ffn: FFNWeights) {
        self.inputNorm = inputNorm
        self.postNorm = postNorm
        self.attention = attention
        self.ffn = ffn
    }

    /// The BlockFFN router and experts; nil for a dense FFN.
    public var experts: ExpertWeights? {
        if case .experts(let x) = ffn { return x }
        return nil
    }

    /// This layer with `transform` applied to every matrix its forward pass multiplies by: the attention
    /// projections, a dense FFN's three matrices, the router and, with `experts`, every expert's up and down
    /// matrices (norm vectors are left as they are). Visits them in that order.
    public func mappingProducts(experts: Bool, _ transform: (WeightMatrix) -> WeightMatrix) -> LayerWeights {
        var out = self
        switch attention {
        case .mla(var m):
            m.qA = transform(m.qA); m.qB = transform(m.qB); m.kvA = transform(m.kvA); m.kvB = transform(m.kvB)
            m.output = transform(m.output)
            out.attention = .mla(m)
        case .gqa(var g):
            g.q = transform(g.q); g.k = transform(g.k); g.v = transform(g.v); g.output = transform(g.output)
            out.attention = .gqa(g)
        }
        switch ffn {
        case .dense(var d):
            d.gate = transform(d.gate); d.up = transform(d.up); d.down = transform(d.down)
            out.ffn = .dense(d)
        case .experts(var x):
            x.router = transform(x.router)
            if experts {
                x.up = x.up.map(transform)
                x.down = x.down.map(transform)
            }
            out.ffn = .experts(x)
        }
        return out
    }

    /// Every matrix of the layer outside the experts, under its name in `names` (for layer `l`), with its
    /// class, in the order packs store them: input norm, attention, post-attention norm, then the dense FFN or
    /// the router and its norm. Vectors (norm weights) are marked, so writers can give them a 1-D shape.
    public func denseTensors(layer l: Int, names n: TensorNames) -> [NamedMatrix] {
        let p = n.layer(l)
        var out = [NamedMatrix(name: p + n.inputNorm, tensorClass: .norms, matrix: inputNorm, isVector: true)]
        switch attention {
        case .mla(let m):
            out += [NamedMatrix(name: p + n.qA, tensorClass: .attention, matrix: m.qA),
                    NamedMatrix(name: p + n.qANorm, tensorClass: .norms, matrix: m.qANorm, isVector: true),
                    NamedMatrix(name: p + n.qB, tensorClass: .attention, matrix: m.qB),
                    NamedMatrix(name: p + n.kvA, tensorClass: .attention, matrix: m.kvA),
                    NamedMatrix(name: p + n.kvANorm, tensorClass: .norms, matrix: m.kvANorm, isVector: true),
                    NamedMatrix(name: p + n.kvB, tensorClass: .attention, matrix: m.kvB),
                    NamedMatrix(name: p + n.mlaOutput, tensorClass: .attention, matrix: m.output)]
        case .gqa(let g):
            out += [NamedMatrix(name: p + n.q, tensorClass: .attention, matrix: g.q),
                    NamedMatrix(name: p + n.k, tensorClass: .attention, matrix: g.k),
                    NamedMatrix(name: p + n.v, tensorClass: .attention, matrix: g.v),
                    NamedMatrix(name: p + n.gqaOutput, tensorClass: .attention, matrix: g.output)]
        }
        out.append(NamedMatrix(name: p + n.postNorm, tensorClass: .norms, matrix: postNorm, isVector: true))
        switch ffn {
        case .dense(let d):
            out += [NamedMatrix(name: p + n.gate, tensorClass: .denseFFN, matrix: d.gate),
                    NamedMatrix(name: p + n.denseUp, tensorClass: .denseFFN, matrix: d.up),
                    NamedMatrix(name: p + n.denseDown, tensorClass: .denseFFN, matrix: d.down)]
        case .experts(let x):
            out.append(NamedMatrix(name: p + n.router, tensorClass: .router, matrix: x.router, layer: l))
            if let norm = x.routerNorm {
                out.append(NamedMatrix(name: p + n.routerNorm, tensorClass: .norms, matrix: norm, isVector: true, layer: l))
            }
        }
        return out
    }
}

/// A weight matrix with its published name and class.
public struct NamedMatrix: Sendable {
    /// The tensor's name.
    public var name: String
    /// What the tensor is for.
    public var tensorClass: TensorClass
    /// The weights.
    public var matrix: WeightMatrix
    /// True for 1-D tensors (norm weights), whose shape is [rows · cols].
    public var isVector: Bool
    /// The layer whose expert order the tensor follows (the router and its norm), else nil.
    public var expertOrderLayer: Int?
    /// The layer the tensor belongs to (nil: the embedding, the final norm, the head). Set by
    /// `ModelWeights.denseTensors`; per-layer storage rules read it.
    public var layer: Int?

    /// Names a matrix.
    public init(name: String, tensorClass: TensorClass, matrix: WeightMatrix, isVector: Bool = false, layer: Int? = nil) {
        self.name = name
        self.tensorClass = tensorClass
        self.matrix = matrix
        self.isVector = isVector
        self.expertOrderLayer = layer
    }

    /// The tensor's shape: [rows · cols] for vectors, else [rows, cols].
    public var shape: [Int] { isVector ? [matrix.rows * matrix.cols] : [matrix.rows, matrix.cols] }
}

/// A layer's attention weights: one case per attention variant, so the engine switches on it exhaustively.
public enum AttentionWeights: Sendable {
    /// Multi-head latent attention (the published small models).
    case mla(MLAWeights)
    /// Grouped-query or multi-head attention.
    case gqa(GQAWeights)

    /// The output projection [H, heads · value width].
    public var output: WeightMatrix {
        switch self {
        case .mla(let m): return m.output
        case .gqa(let g): return g.output
        }
    }
}

/// MLA projections (see docs/model.md, "MLA attention").
public struct MLAWeights: Sendable {
    /// Query down projection [q_lora_rank, H] and its RMSNorm weight [1, q_lora_rank].
    public var qA: WeightMatrix, qANorm: WeightMatrix
    /// Query up projection [nh · (nope + rope), q_lora_rank].
    public var qB: WeightMatrix
    /// Key/value down projection [kv_lora_rank + rope, H] (the latent, then the shared rotary key) and the
    /// latent's RMSNorm weight [1, kv_lora_rank].
    public var kvA: WeightMatrix, kvANorm: WeightMatrix
    /// Key/value up projection [nh · (nope + v), kv_lora_rank].
    public var kvB: WeightMatrix
    /// Output projection [H, nh · v].
    public var output: WeightMatrix

    /// Creates MLA weights.
    public init(qA: WeightMatrix, qANorm: WeightMatrix, qB: WeightMatrix, kvA: WeightMatrix, kvANorm: WeightMatrix,
                kvB: WeightMatrix, output: WeightMatrix) {
        self.qA = qA
        self.qANorm = qANorm
        self.qB = qB
        self.kvA = kvA
        self.kvANorm = kvANorm
        self.kvB = kvB
        self.output = output
    }
}

/// GQA/MHA projections.
public struct GQAWeights: Sendable {
    /// Query [nh · hd, H], key and value [nkv · hd, H] projections.
    public var q: WeightMatrix, k: WeightMatrix, v: WeightMatrix
    /// Output projection [H, nh · hd].
    public var output: WeightMatrix

    /// Creates GQA weights.
    public init(q: WeightMatrix, k: WeightMatrix, v: WeightMatrix, output: WeightMatrix) {
        self.q = q
        self.k = k
        self.v = v
        self.output = output
    }
}

/// A layer's FFN weights.
public enum FFNWeights: Sendable {
    /// BlockFFN: a router and E experts.
    case experts(ExpertWeights)
    /// A dense gated-SiLU FFN (the `vanilla` layout).
    case dense(DenseFFNWeights)
}

/// A dense gated FFN: down(SiLU(gate · x) ⊙ (up · x)).
public struct DenseFFNWeights: Sendable {
    /// Gate and up projections [I, H]; down projection [H, I].
    public var gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix

    /// Creates dense FFN weights.
    public init(gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix) {
        self.gate = gate
        self.up = up
        self.down = down
    }
}

/// One layer's BlockFFN router and experts, as a source supplies them.
public struct ExpertWeights: Sendable {
    /// Router [E, H], rows in slot (stored) order.
    public var router: WeightMatrix
    /// The rms router-norm weight as a [1, E] vector, when the router norm is rms.
    public var routerNorm: WeightMatrix?
    /// Per expert slot: up rows [de, H].
    public var up: [WeightMatrix]
    /// Per expert slot: the down weights as [H, de] rows (row j = the de weights output j takes from the expert;
    /// a column band of block_linear's [H, E·de], a 3-D slab, or a pack's block).
    public var down: [WeightMatrix]
    /// Per slot: the expert's index in the source checkpoint. Packs may store experts permuted (hot first); the
    /// FFN still accumulates experts in source order so logits do not change. Empty: identity.
    public var sourceIndex: [Int]

    /// Creates a layer's expert weights.
    public init(router: WeightMatrix, routerNorm: WeightMatrix?, up: [WeightMatrix], down: [WeightMatrix], sourceIndex: [Int] = []) {
        self.router = router
        self.routerNorm = routerNorm
        self.up = up
        self.down = down
        self.sourceIndex = sourceIndex
    }
}
