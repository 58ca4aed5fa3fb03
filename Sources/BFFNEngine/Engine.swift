import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

/// The BlockFFN forward pass in float32 (docs/model.md, "The forward pass" and decisions 5-8) with a KV cache.
///
/// Batch-invariant: every dot product, norm and softmax uses a fixed order that does not depend on how many
/// tokens are in the call or on the thread count, so a token's logits are bit-identical whether it is computed
/// in a prefill, in a chunk of draft tokens or alone after a cached prefix.
public final class Engine {
    public let weights: ModelWeights
    public var options: EngineOptions
    /// Tokens in the KV cache (slots, including the nodes of a draft tree not yet committed).
    public internal(set) var length = 0
    /// Per cache slot: the slot it follows (its parent; -1 for the first), and its position.
    public internal(set) var slotParent: [Int] = []
    public internal(set) var slotPosition: [Int] = []
    /// Seconds spent in FFN blocks since the last `resetTimers()` (for benchmarks).
    public internal(set) var ffnSeconds = 0.0
    /// Reads expert blocks on demand instead of from the mapping (nil: mapped weights).
    public var expertProvider: ExpertProvider?
    /// Sees the input of every weight product (calibration statistics); nil: nothing is observed.
    public var activationObserver: ActivationObserver?
    /// `weights` with the matrices the int8 or bf16 products read repacked into tiles, made at the first such
    /// forward pass (the experts too unless an expert provider reads them): for which precision, and whether the
    /// experts are in it.
    var tiledWeights: (weights: ModelWeights, precision: ActivationPrecision, experts: Bool)?
    /// The router logits of the layer just computed, when `options.captureRouterLogits` (handed to the output).
    var capturedRouterLogits: [Float]?

    /// Bytes the KV cache holds now (keys and values of every layer, allocated capacity included).
    public var kvCacheBytes: Int {
        keys.reduce(0) { $0 + $1.capacityBytes } + values.reduce(0) { $0 + $1.capacityBytes }
    }

    /// Bytes of keys and values one cache slot holds over all layers: what attention reads per visible slot.
    public var kvBytesPerSlot: Int { L * (keyWidth + kvHeads * valueDim) * kvPrecision.bytes }

    /// Zeroes `ffnSeconds`.
    public func resetTimers() { ffnSeconds = 0 }

    let H: Int, L: Int, V: Int, nh: Int
    let kvHeads: Int, keyDim: Int, valueDim: Int, ropeDim: Int, nopeDim: Int
    /// MLA keys cached as every head's own part, then the rotary part all heads share (once a slot, not once a
    /// head: 28 % fewer key bytes read per step on the published shapes); needs the own part a multiple of 32.
    let sharedRopeKey: Bool
    /// Numbers of one slot's keys in `keys[l]`.
    let keyWidth: Int
    let eps: Float, residualScale: Float, embedScale: Float, headScale: Float, attentionScale: Float
    /// The rotary embedding of the attention's rotary part (`ropeDim` wide), with config.json's θ and scaling.
    public let rotary: RotaryEmbedding
    /// How the KV cache stores keys and values (`options.kvCache` when the engine was made).
    let kvPrecision: KVCachePrecision
    /// Each layer's cached keys and values.
    var keys: [KVRows]
    var values: [KVRows]
    /// Slots known to form a plain chain from slot 0 (a cache of `slotIsLinearPrefix`).
    var linearPrefixLength = 0

    /// Prepares an engine over resolved weights.
    /// - Throws: `.invalidConfig` when config.json lacks what the forward pass needs (head counts, MLA dims).
    public init(weights: ModelWeights, options: EngineOptions = EngineOptions()) throws {
        self.weights = weights
        self.options = options
        let a = weights.architecture, c = weights.config
        H = a.hiddenSize
        L = a.numLayers
        V = a.vocabSize
        guard let heads = a.numAttentionHeads else {
            throw BFFNError(.invalidConfig, "config.json must give num_attention_heads to run the model", field: "num_attention_heads")
        }
        nh = heads
        switch a.attention {
        case .mla:
            guard let m = a.mla, let nope = m.qkNopeHeadDim, let vd = m.vHeadDim else {
                throw BFFNError(.invalidConfig, "config.json must give qk_nope_head_dim to run an MLA model", field: "qk_nope_head_dim")
            }
            kvHeads = nh
            nopeDim = nope
            ropeDim = m.qkRopeHeadDim
            keyDim = nope + m.qkRopeHeadDim
            valueDim = vd
            attentionScale = 1 / Float(keyDim).squareRoot()
        case .gqa:
            kvHeads = a.numKeyValueHeads ?? nh
            keyDim = a.headDim ?? H / nh
            valueDim = keyDim
            ropeDim = keyDim
            nopeDim = 0
            attentionScale = 1 / Float(keyDim).squareRoot()
        }
        eps = Float(c.rmsNormEps ?? 1e-6)
        let scales = weights.scales
        (residualScale, embedScale, headScale) = (scales.residual, scales.embedding, scales.head)
        rotary = RotaryEmbedding(config: c, dimensions: ropeDim)
        sharedRopeKey = a.attention == .mla && nopeDim % 32 == 0 && nopeDim > 0
        kvPrecision = options.kvCache
        // One part a head (MLA with the shared rotary key: each head's own part, then the rotary part).
        let keyParts = sharedRopeKey ? [Int](repeating: nopeDim, count: kvHeads) + [ropeDim] : [Int](repeating: keyDim, count: kvHeads)
        keyWidth = keyParts.reduce(0, +)
        let valueParts = [Int](repeating: valueDim, count: kvHeads)
        keys = (0..<L).map { _ in KVRows(options.kvCache, widths: keyParts) }
        values = (0..<L).map { _ in KVRows(options.kvCache, widths: valueParts) }
    }

    /// Opens a checkpoint and builds an engine for it (strided expert down weights re-laid out expert by expert).
    /// - Throws: the readers' and recognizer's errors.
    public convenience init(checkpointPath: String, options: EngineOptions = EngineOptions()) throws {
        try self.init(weights: ModelWeights(checkpoint: Checkpoint(path: checkpointPath), expertDown: .expertMajor), options: options)
    }

    /// Makes, now, what the next forward pass would make first: the weights repacked into tiles for int8 / bf16
    /// activations (formats/numerics.md; once per precision, the experts too unless an expert provider reads them).
    /// Timed work calls it first, so a first prefill does not include the repacking (about 0.2 s for a 230 MB q4
    /// pack on two threads); nothing else changes.
    public func prepare() { _ = forwardWeights() }

    /// The weights the forward pass reads: `weights`, or for int8 / bf16 activations their repacked form (made
    /// once per precision; the experts are repacked too when no expert provider reads them).
    func forwardWeights() -> ModelWeights {
        let precision = options.activations
        guard precision != .float else { return weights }
        let experts = expertProvider == nil
        if let made = tiledWeights, made.precision == precision, made.experts || !experts { return made.weights }
        tiledWeights = nil   // the previous precision's tiles go before the new ones are made
        let made = weights.withTiles(for: precision, experts: experts, threads: options.threads)
        tiledWeights = (made, precision, experts)
        return made
    }

    /// Runs `tokens` on an emptied cache with router scores captured (and hidden states and pre-ReLU router
    /// logits when asked), leaving
    /// the capture options as they were: what verification and calibration inspect.
    /// - Throws: `.outOfBounds` for a token id outside the vocabulary.
    public func forwardCapturing(_ tokens: [Int], hiddenStates: Bool = false, routerLogits: Bool = false) throws -> ForwardOutput {
        let saved = options
        defer { options = saved }
        options.captureRouterScores = true
        options.captureRouterLogits = routerLogits
        options.captureHiddenStates = hiddenStates
        reset()
        return try forward(tokens)
    }

    /// Runs `tokens` at positions `length ..< length + T`, appends them to the cache, and returns their logits
    /// (every token's, or with `.last` the last token's only: a prompt then skips T - 1 rows of the LM head and
    /// T - 1 rows of V floats).
    /// - Throws: `.outOfBounds` for a token id outside the vocabulary.
    public func forward(_ tokens: [Int], logits rows: LogitRows = .all) throws -> ForwardOutput {
        try forward(tokens, parents: (0..<tokens.count).map { length + $0 - 1 }, logits: rows)
    }

    /// Runs `tokens` as nodes of a tree hung below the cache and appends them as slots `length ..< length + T`.
    /// `parents[i]` is the slot token i follows: an earlier slot of the cache or of this call (`length + j`,
    /// j < i), or -1 for a first token. Each token sits at its parent's position + 1 and attends to its parent
    /// chain and itself only (the tree attention mask of docs/model.md), so its logits are bit-identical
    /// to computing its path token by token.
    /// `rows` chooses which tokens get logits, as in `forward(_:logits:)`.
    /// `expertGroups`, when given, are consecutive ranges of the call's tokens that cover it: the sparse FFN computes
    /// each group's experts apart (in chunks of `options.expertChunk` within a group), as several sequences decoded
    /// in one call want (their tokens share few experts); nil: the call is one group. The logits are the same bits
    /// either way (a token's inactive experts add exact zeros).
    /// - Throws: `.outOfBounds` for a token id outside the vocabulary, `.usage` for a parent that is not an
    ///   earlier slot or groups that do not cover the call in order.
    public func forward(_ tokens: [Int], parents: [Int], logits rows: LogitRows = .all, expertGroups: [Range<Int>]? = nil) throws -> ForwardOutput {
        let T = tokens.count
        for (i, t) in tokens.enumerated() where t < 0 || t >= V {
            throw BFFNError(.outOfBounds, "token id \(t) at index \(i) is outside the vocabulary of \(V)", field: "token ids")
        }
        guard parents.count == T else {
            throw BFFNError(.usage, "\(parents.count) parents given for \(T) tokens", field: "parents")
        }
        for (i, p) in parents.enumerated() where p < -1 || p >= length + i {
            throw BFFNError(.usage, "parent slot \(p) of token \(i) is not an earlier slot", field: "parents")
        }
        if let groups = expertGroups {
            var next = 0
            for g in groups {
                guard g.lowerBound == next && !g.isEmpty else { throw BFFNError(.usage, "expert groups must cover the call's tokens in order", field: "expert_groups") }
                next = g.upperBound
            }
            guard next == T else { throw BFFNError(.usage, "expert groups must cover the call's \(T) tokens", field: "expert_groups") }
        }
        var out = ForwardOutput(logits: [], routerScores: [], expertsComputed: [], vocabSize: V)
        if T == 0 { return out }
        let start = length
        var positions: [Int] = []
        for p in parents {
            positions.append(p < 0 ? 0 : (p >= start ? positions[p - start] : slotPosition[p]) + 1)
        }
        // Visible slots per token: its ancestors and itself, ascending (parents always precede children).
        var visible: [VisibleSlots] = []
        for (i, p) in parents.enumerated() {
            let pv = p >= start ? visible[p - start] : visibleSlots(of: p)
            let slot = start + i
            if pv.extra.isEmpty && pv.prefix == slot {
                visible.append(VisibleSlots(prefix: slot + 1, extra: []))
            } else {
                visible.append(VisibleSlots(prefix: pv.prefix, extra: pv.extra + [slot]))
            }
        }
        let w = forwardWeights()
        var h = [Float](repeating: 0, count: T * H)
        for (t, id) in tokens.enumerated() {
            let row = w.embedding.rowValues(id)
            for j in 0..<H { h[t * H + j] = row[j] * embedScale }
        }
        var normed = [Float](repeating: 0, count: T * H)
        let rope = ropeTables(positions, prefill: length == 0)
        var branch = [Float](repeating: 0, count: T * H)
        for l in 0..<L {
            let lw = w.layers[l]
            VectorOps.rmsNorm(h, lw.inputNorm, eps, T, H, into: &normed)
            activationObserver?.observe(.attentionInput(layer: l), normed, tokens: T, width: H)
            attention(layer: l, lw, normed, T, rope, visible, into: &branch)
            for i in 0..<(T * H) { h[i] += branch[i] * residualScale }
            VectorOps.rmsNorm(h, lw.postNorm, eps, T, H, into: &normed)
            activationObserver?.observe(.ffnInput(layer: l), normed, tokens: T, width: H)
            let f0 = monotonicSeconds()
            let (scores, computed, products) = try ffn(lw, layer: l, normed, T, groups: expertGroups ?? [0..<T], into: &branch)
            ffnSeconds += monotonicSeconds() - f0
            out.expertsComputed.append(computed)
            out.expertTokenProducts.append(products)
            if options.captureRouterScores, let scores { out.routerScores.append(scores) }
            if options.captureRouterLogits, let logits = capturedRouterLogits { out.routerLogits.append(logits) }
            capturedRouterLogits = nil
            for i in 0..<(T * H) { h[i] += branch[i] * residualScale }
            if options.captureHiddenStates { out.hiddenStates.append(h) }
        }
        // The final norm and head for the tokens that get logits (per token, so the rows are the same bits).
        let first = rows.firstRow(tokens: T), n = T - first
        if options.captureFeatures {
            // Every token's final-normed state (what an EAGLE head reads); the rows that get logits are the same bits.
            VectorOps.rmsNorm(h, w.finalNorm, eps, T, H, into: &normed)
            out.features = normed
            out.featureWidth = H
            if first > 0 { normed.removeFirst(first * H) }
        } else {
            if first > 0 { h.removeFirst(first * H) }
            VectorOps.rmsNorm(h, w.finalNorm, eps, n, H, into: &normed)
        }
        for i in 0..<(n * H) { normed[i] /= headScale }
        activationObserver?.observe(.head, normed, tokens: n, width: H)
        // Every logit is written by the product (each output row of every tile), so the buffer is not zeroed first:
        // a 64-token prompt's 31 MB of logits were written twice.
        out.logits = [Float](unsafeUninitializedCapacity: n * V) { buffer, count in
            normed.withUnsafeBufferPointer { x in
                MatMul.run(x: x.baseAddress!, tokens: n, xStride: H, w: w.head, out: buffer.baseAddress!, outStride: V,
                           threads: options.threads, activations: options.activations)
            }
            count = n * V
        }
        out.firstLogitRow = first
        slotParent += parents
        slotPosition += positions
        length += T
        return out
    }
}
