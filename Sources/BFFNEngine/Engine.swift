import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

#if canImport(Glibc)
import Glibc
#endif

/// How the BlockFFN experts are computed.
public enum FFNMode: String, Sendable {
    /// Only the union of experts active for any token of the call is read and computed (DECISIONS.md 7).
    case sparse
    /// Every expert is computed; inactive ones contribute exact zeros. Gives the same logits bit for bit.
    case dense
}

/// Engine settings.
public struct EngineOptions: Sendable {
    /// Worker threads for matrix products (results do not depend on it).
    public var threads: Int = 1
    /// Sparse (default) or dense experts.
    public var ffnMode: FFNMode = .sparse
    /// Keep each layer's router scores of the last call (for verification and sparsity statistics).
    public var captureRouterScores = false
    /// Keep each layer's output hidden state (the residual stream after the layer) of the last call.
    public var captureHiddenStates = false
    public init(threads: Int = 1, ffnMode: FFNMode = .sparse, captureRouterScores: Bool = false, captureHiddenStates: Bool = false) {
        self.threads = threads
        self.ffnMode = ffnMode
        self.captureRouterScores = captureRouterScores
        self.captureHiddenStates = captureHiddenStates
    }
}

/// Which tokens of a forward call get logits (the LM head is the largest single product of a call).
public enum LogitRows: Sendable {
    /// Every token of the call (verification, speculative decoding, reference comparisons).
    case all
    /// Only the call's last token (a prompt whose next token is all that is needed). Its logits are the same
    /// bits as with `.all`.
    case last
}

/// What one forward call produced.
public struct ForwardOutput: Sendable {
    /// Logits, one row of V floats per token from `firstLogitRow` to the call's last token (all T rows unless
    /// the call asked for `.last`).
    public var logits: [Float]
    /// The token (index within the call) of the first row of `logits`; 0 unless the call asked for `.last`.
    public var firstLogitRow = 0
    /// Per layer, T rows of E router scores (after ReLU and normalisation); empty unless captured.
    public var routerScores: [[Float]]
    /// Per layer, the number of experts computed (the union in sparse mode).
    public var expertsComputed: [Int]
    /// Per layer, T rows of H floats: the residual stream after the layer; empty unless captured.
    public var hiddenStates: [[Float]] = []
    /// The vocabulary size (row width of `logits`).
    public var vocabSize: Int

    /// The logits of token `t` of the call (`t >= firstLogitRow`).
    public func logits(at t: Int) -> ArraySlice<Float> {
        precondition(t >= firstLogitRow, "token \(t) of this call has no logits (the call asked for the last token's only)")
        let row = t - firstLogitRow
        return logits[(row * vocabSize)..<((row + 1) * vocabSize)]
    }

    /// The argmax of token `t`'s logits (ties go to the lowest index, as torch.argmax).
    public func argmax(at t: Int) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits(at: t).enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return best
    }
}

/// The `count` largest values of a row, as positions from its start (0-based), largest first; equal values
/// keep the lower position first (torch.topk's order on ties in a row of logits). Inlinable, so callers get a
/// version specialised for their collection (unspecialised, a 122 753-logit row costs milliseconds in generic
/// metadata lookups: most of a draft model's time per drafted token).
@inlinable
public func topPositions<C: Collection>(_ values: C, count: Int) -> [Int] where C.Element: Comparable {
    var best: [(position: Int, value: C.Element)] = []
    for (i, v) in values.enumerated() where best.count < count || v > best[best.count - 1].value {
        var j = best.count
        while j > 0 && best[j - 1].value < v { j -= 1 }
        best.insert((i, v), at: j)
        if best.count > count { best.removeLast() }
    }
    return best.map(\.position)
}

/// The BlockFFN forward pass in float32 (BLOCKFFN-SPEC.md section 3, DECISIONS.md 5-8) with a KV cache.
///
/// Batch-invariant: every dot product, norm and softmax uses a fixed order that does not depend on how many
/// tokens are in the call or on the thread count, so a token's logits are bit-identical whether it is computed
/// in a prefill, in a chunk of draft tokens or alone after a cached prefix.
public final class Engine {
    public let weights: ModelWeights
    public var options: EngineOptions
    /// Tokens in the KV cache (slots, including the nodes of a draft tree not yet committed).
    public private(set) var length = 0
    /// Per cache slot: the slot it follows (its parent; -1 for the first), and its position.
    public private(set) var slotParent: [Int] = []
    public private(set) var slotPosition: [Int] = []
    /// Seconds spent in FFN blocks since the last `resetTimers()` (for benchmarks).
    public private(set) var ffnSeconds = 0.0

    /// Bytes the KV cache holds now (keys and values of every layer, allocated capacity included).
    public var kvCacheBytes: Int {
        (keys.reduce(0) { $0 + $1.capacity } + values.reduce(0) { $0 + $1.capacity }) * MemoryLayout<Float>.stride
    }

    /// Zeroes `ffnSeconds`.
    public func resetTimers() { ffnSeconds = 0 }

    let H: Int, L: Int, V: Int, nh: Int
    let kvHeads: Int, keyDim: Int, valueDim: Int, ropeDim: Int, nopeDim: Int
    let eps: Float, residualScale: Float, embedScale: Float, headScale: Float, attentionScale: Float
    let ropeTheta: Float
    let ropeScaling: ModelConfig.RopeScaling?
    let maxPositions: Int
    var keys: [[Float]]
    var values: [[Float]]
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
        residualScale = Float((c.scaleDepth ?? 1) / Double(L).squareRoot())
        embedScale = Float(c.scaleEmb ?? 1)
        headScale = Float(Double(H) / (c.dimModelBase ?? 1))
        ropeTheta = Float(c.ropeTheta ?? 10000)
        ropeScaling = c.ropeScaling
        maxPositions = c.maxPositionEmbeddings ?? 4096
        keys = Array(repeating: [], count: L)
        values = Array(repeating: [], count: L)
    }

    /// Opens a checkpoint and builds an engine for it (strided expert down weights re-laid out expert by expert).
    /// - Throws: the readers' and recognizer's errors.
    public convenience init(checkpointPath: String, options: EngineOptions = EngineOptions()) throws {
        try self.init(weights: ModelWeights(checkpoint: Checkpoint(path: checkpointPath), expertDown: .expertMajor), options: options)
    }

    /// Empties the KV cache.
    public func reset() { truncate(to: 0) }

    /// Drops cached tokens after the first `n` (rolls the cache back).
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= length, "truncate(to:) beyond the cache")
        for l in 0..<L {
            keys[l].removeSubrange((n * kvHeads * keyDim)...)
            values[l].removeSubrange((n * kvHeads * valueDim)...)
        }
        slotParent.removeSubrange(n...)
        slotPosition.removeSubrange(n...)
        linearPrefixLength = min(linearPrefixLength, n)
        length = n
    }

    /// Keeps one root-to-leaf path of a tree of slots and drops the rest: slots `0 ..< start` stay, the slots in
    /// `path` (each the child of the one before, the first the child of slot `start - 1`) move to
    /// `start ..< start + path.count`, in that order. This is the KV-cache fix-up after tree verification
    /// (BLOCKFFN-SPEC.md 5.3); the moved keys and values are the exact bits computed for those nodes.
    /// - Throws: `.usage` when `path` is not such a chain of existing slots.
    public func commit(path: [Int], from start: Int) throws {
        guard start >= 0 && start <= length else {
            throw BFFNError(.usage, "commit start \(start) is outside the cache of \(length) slots", field: "start")
        }
        var previous = start - 1
        for s in path {
            guard s >= start && s < length && slotParent[s] == previous else {
                throw BFFNError(.usage, "slot \(s) does not continue the path at slot \(previous)", field: "path")
            }
            previous = s
        }
        let kw = kvHeads * keyDim, vw = kvHeads * valueDim
        for l in 0..<L {
            for (k, s) in path.enumerated() where s != start + k {
                for j in 0..<kw { keys[l][(start + k) * kw + j] = keys[l][s * kw + j] }
                for j in 0..<vw { values[l][(start + k) * vw + j] = values[l][s * vw + j] }
            }
        }
        for (k, s) in path.enumerated() {
            slotPosition[start + k] = slotPosition[s]
            slotParent[start + k] = start + k - 1
        }
        truncate(to: start + path.count)
    }

    /// Runs `tokens` on an emptied cache with router scores captured (and hidden states when asked), leaving
    /// the capture options as they were: what verification and calibration inspect.
    /// - Throws: `.outOfBounds` for a token id outside the vocabulary.
    public func forwardCapturing(_ tokens: [Int], hiddenStates: Bool = false) throws -> ForwardOutput {
        let saved = options
        defer { options = saved }
        options.captureRouterScores = true
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
    /// chain and itself only (the tree attention mask of BLOCKFFN-SPEC.md 5.3), so its logits are bit-identical
    /// to computing its path token by token.
    /// `rows` chooses which tokens get logits, as in `forward(_:logits:)`.
    /// - Throws: `.outOfBounds` for a token id outside the vocabulary, `.usage` for a parent that is not an
    ///   earlier slot.
    public func forward(_ tokens: [Int], parents: [Int], logits rows: LogitRows = .all) throws -> ForwardOutput {
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
        let w = weights
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
            Ops.rmsNorm(h, lw.inputNorm, eps, T, H, into: &normed)
            attention(layer: l, lw, normed, T, rope, visible, into: &branch)
            for i in 0..<(T * H) { h[i] += branch[i] * residualScale }
            Ops.rmsNorm(h, lw.postNorm, eps, T, H, into: &normed)
            let f0 = monotonicSeconds()
            let (scores, computed) = ffn(lw, normed, T, into: &branch)
            ffnSeconds += monotonicSeconds() - f0
            out.expertsComputed.append(computed)
            if options.captureRouterScores, let scores { out.routerScores.append(scores) }
            for i in 0..<(T * H) { h[i] += branch[i] * residualScale }
            if options.captureHiddenStates { out.hiddenStates.append(h) }
        }
        // The final norm and head for the tokens that get logits (per token, so the rows are the same bits).
        let first = rows == .last ? T - 1 : 0, n = T - first
        if first > 0 { h.removeFirst(first * H) }
        Ops.rmsNorm(h, w.finalNorm, eps, n, H, into: &normed)
        for i in 0..<(n * H) { normed[i] /= headScale }
        var logits = [Float](repeating: 0, count: n * V)
        Ops.matmul(normed, n, w.head, into: &logits, threads: options.threads)
        out.logits = logits
        out.firstLogitRow = first
        slotParent += parents
        slotPosition += positions
        length += T
        return out
    }

    /// The slots cache slot `s` sees (itself and its ancestors); slot -1 sees nothing.
    func visibleSlots(of s: Int) -> VisibleSlots {
        var reversed: [Int] = []
        var q = s
        while q >= 0 && !slotIsLinearPrefix(q) {
            reversed.append(q)
            q = slotParent[q]
        }
        return VisibleSlots(prefix: q + 1, extra: reversed.reversed())
    }

    /// True when slots 0...s form one chain (each slot follows the one before): the usual committed prefix.
    func slotIsLinearPrefix(_ s: Int) -> Bool {
        if linearPrefixLength > s { return true }
        var n = linearPrefixLength
        while n <= s && slotParent[n] == n - 1 { n += 1 }
        linearPrefixLength = n
        return n > s
    }

    // MARK: - Attention

    /// cos/sin tables, `half` per token. Dynamic NTK scaling (DECISIONS.md 11): a call on an empty cache (a
    /// prefill) scales every token by the call's length, as the published code's one-shot forward does; a call
    /// after cached tokens scales each token by its own position + 1, as token-by-token decoding does, so draft
    /// verification reproduces decoding exactly.
    func ropeTables(_ positions: [Int], prefill: Bool) -> (cos: [Float], sin: [Float]) {
        let half = ropeDim / 2
        func inverseFrequencies(sequenceLength seq: Int) -> [Float] {
            var theta = ropeTheta
            if let s = ropeScaling, s.type == "dynamic", seq > maxPositions {
                let f = Double(s.factor)
                theta = Float(Double(ropeTheta) * pow((f * Double(seq) / Double(maxPositions)) - (f - 1), Double(ropeDim) / Double(ropeDim - 2)))
            }
            return (0..<half).map { 1 / powf(theta, Float(2 * $0) / Float(ropeDim)) }
        }
        let dynamic = ropeScaling?.type == "dynamic"
        let shared = inverseFrequencies(sequenceLength: (positions.max() ?? 0) + 1)
        var cosT = [Float](repeating: 0, count: positions.count * half)
        var sinT = cosT
        for (t, p) in positions.enumerated() {
            let invFreq = dynamic && !prefill ? inverseFrequencies(sequenceLength: p + 1) : shared
            var pos = Float(p)
            if let s = ropeScaling, s.type == "linear" { pos /= Float(s.factor) }
            for j in 0..<half {
                let angle = pos * invFreq[j]
                cosT[t * half + j] = cosf(angle)
                sinT[t * half + j] = sinf(angle)
            }
        }
        return (cosT, sinT)
    }

    /// Rotate-half RoPE on `dim` floats at `x`.
    @inline(__always)
    func rope(_ x: UnsafeMutablePointer<Float>, _ cosT: UnsafePointer<Float>, _ sinT: UnsafePointer<Float>) {
        let half = ropeDim / 2
        for i in 0..<half {
            let a = x[i], b = x[i + half]
            x[i] = a * cosT[i] - b * sinT[i]
            x[i + half] = b * cosT[i] + a * sinT[i]
        }
    }

    /// Σ x² over n values in `Dot`'s order, taken in source order when `order` (slot → source) is given.
    static func sumOfSquares(_ x: UnsafeMutablePointer<Float>, _ n: Int, order: [Int]) -> Float {
        if order.isEmpty { return Dot.dot(x, x, n) }
        var ordered = [Float](repeating: 0, count: n)
        for i in 0..<n { ordered[order[i]] = x[i] }
        return ordered.withUnsafeBufferPointer { Dot.dot($0.baseAddress!, $0.baseAddress!, n) }
    }

    /// Rotates, for every token t, the `ropeDim`-wide vectors starting at `offsets(t)` in `x`.
    func applyRope(_ x: inout [Float], _ T: Int, _ cosT: [Float], _ sinT: [Float], offsets: (Int) -> [Int]) {
        let half = ropeDim / 2
        x.withUnsafeMutableBufferPointer { xp in
            cosT.withUnsafeBufferPointer { cs in
                sinT.withUnsafeBufferPointer { sn in
                    for t in 0..<T {
                        for o in offsets(t) { rope(xp.baseAddress! + o, cs.baseAddress! + t * half, sn.baseAddress! + t * half) }
                    }
                }
            }
        }
    }

    /// One layer's attention for the call's T tokens; `rope` holds their cos/sin tables (the same for every layer).
    func attention(layer l: Int, _ lw: LayerWeights, _ a: [Float], _ T: Int, _ rope: (cos: [Float], sin: [Float]),
                   _ visible: [VisibleSlots], into out: inout [Float]) {
        let threads = options.threads
        let (cosT, sinT) = rope
        var q = [Float](repeating: 0, count: T * nh * keyDim)
        var newK = [Float](repeating: 0, count: T * kvHeads * keyDim)
        var newV = [Float](repeating: 0, count: T * kvHeads * valueDim)
        switch lw.attention {
        case .mla(let mla):
            let qA = mla.qA, qANorm = mla.qANorm, qB = mla.qB, kvA = mla.kvA, kvANorm = mla.kvANorm, kvB = mla.kvB
            let qLora = qA.rows, kvLora = kvANorm.cols
            var cq = [Float](repeating: 0, count: T * qLora)
            Ops.matmul(a, T, qA, into: &cq, threads: threads)
            var cqn = cq
            Ops.rmsNorm(cq, qANorm, 1e-6, T, qLora, into: &cqn)
            Ops.matmul(cqn, T, qB, into: &q, threads: threads)
            var c = [Float](repeating: 0, count: T * kvA.rows)
            Ops.matmul(a, T, kvA, into: &c, threads: threads)
            var latent = [Float](repeating: 0, count: T * kvLora)
            for t in 0..<T { for j in 0..<kvLora { latent[t * kvLora + j] = c[t * kvA.rows + j] } }
            var latentNormed = latent
            Ops.rmsNorm(latent, kvANorm, 1e-6, T, kvLora, into: &latentNormed)
            var kv = [Float](repeating: 0, count: T * kvB.rows)
            Ops.matmul(latentNormed, T, kvB, into: &kv, threads: threads)
            // The shared rotary key k_pe sits after the latent in c; each head's rotary part after its nope part.
            applyRope(&c, T, cosT, sinT) { t in [t * kvA.rows + kvLora] }
            applyRope(&q, T, cosT, sinT) { t in (0..<self.nh).map { (t * self.nh + $0) * self.keyDim + self.nopeDim } }
            // Expand each head's key (its nope part, then the shared rotary key) and value.
            let kvWidth = nopeDim + valueDim
            kv.withUnsafeBufferPointer { kvp in
                c.withUnsafeBufferPointer { cp in
                    newK.withUnsafeMutableBufferPointer { kp in
                        newV.withUnsafeMutableBufferPointer { vp in
                            for t in 0..<T {
                                let rotary = cp.baseAddress! + t * kvA.rows + kvLora
                                for hd in 0..<nh {
                                    let src = kvp.baseAddress! + t * kvB.rows + hd * kvWidth
                                    let key = kp.baseAddress! + (t * nh + hd) * keyDim
                                    key.update(from: src, count: nopeDim)
                                    (key + nopeDim).update(from: rotary, count: ropeDim)
                                    (vp.baseAddress! + (t * nh + hd) * valueDim).update(from: src + nopeDim, count: valueDim)
                                }
                            }
                        }
                    }
                }
            }
        case .gqa(let gqa):
            Ops.matmul(a, T, gqa.q, into: &q, threads: threads)
            Ops.matmul(a, T, gqa.k, into: &newK, threads: threads)
            Ops.matmul(a, T, gqa.v, into: &newV, threads: threads)
            applyRope(&q, T, cosT, sinT) { t in (0..<self.nh).map { (t * self.nh + $0) * self.keyDim } }
            applyRope(&newK, T, cosT, sinT) { t in (0..<self.kvHeads).map { (t * self.kvHeads + $0) * self.keyDim } }
        }
        keys[l].append(contentsOf: newK)
        values[l].append(contentsOf: newV)
        // Softmax attention per (token, head) over the token's visible slots (its ancestors and itself), in
        // slot order, which is position order along any path: the same keys in the same order as decoding the
        // path token by token. Tokens are split over the pool (each output row is computed by one part in
        // this fixed order, so the thread count never changes a bit).
        var o = [Float](repeating: 0, count: T * nh * valueDim)
        keys[l].withUnsafeBufferPointer { K in
            values[l].withUnsafeBufferPointer { Vv in
                q.withUnsafeBufferPointer { Q in
                    o.withUnsafeMutableBufferPointer { O in
                        let job = AttentionJob(q: Q.baseAddress!, keys: K.baseAddress!, values: Vv.baseAddress!, out: O.baseAddress!,
                                               heads: nh, kvHeads: kvHeads, keyDim: keyDim, valueDim: valueDim, scale: attentionScale)
                        let pairs = visible.reduce(0) { $0 + $1.count } * nh * (keyDim + valueDim)
                        let parts = threads > 1 && T > 1 && pairs >= 1 << 16 ? min(T, threads * 4) : 1
                        let slotCapacity = length + T
                        visible.withUnsafeBufferPointer { vis in
                            WorkerPool.shared.run(parts: parts, threads: threads) { p in
                                let scores = UnsafeMutablePointer<Float>.allocate(capacity: slotCapacity)
                                defer { scores.deallocate() }
                                for t in (T * p / parts)..<(T * (p + 1) / parts) { job.token(t, vis[t], scores: scores) }
                            }
                        }
                    }
                }
            }
        }
        Ops.matmul(o, T, lw.attention.output, into: &out, threads: threads)
    }

    // MARK: - FFN

    /// Computes the FFN into `out`; returns the router scores [T, E] (nil for dense vanilla FFNs) and the
    /// number of experts computed.
    func ffn(_ lw: LayerWeights, _ b: [Float], _ T: Int, into out: inout [Float]) -> ([Float]?, Int) {
        let threads = options.threads
        for i in 0..<out.count { out[i] = 0 }
        let x: ExpertWeights
        switch lw.ffn {
        case .dense(let d):
            let I = d.gate.rows
            var g = [Float](repeating: 0, count: T * I), u = g
            Ops.matmul(b, T, d.gate, into: &g, threads: threads)
            Ops.matmul(b, T, d.up, into: &u, threads: threads)
            for i in 0..<(T * I) { g[i] = Ops.silu(g[i]) * u[i] }
            Ops.matmul(g, T, d.down, into: &out, threads: threads)
            return (nil, 0)
        case .experts(let experts):
            x = experts
        }
        let router = x.router
        let E = router.rows
        var r = [Float](repeating: 0, count: T * E)
        Ops.matmul(b, T, router, into: &r, threads: threads)
        var active = [Bool](repeating: false, count: E)
        let routerNormWeights = x.routerNorm?.rowValues(0) ?? []
        for t in 0..<T {
            for e in 0..<E {
                let v = max(r[t * E + e], 0)
                r[t * E + e] = v
                if v > 0 { active[e] = true }
            }
            switch weights.architecture.routerNorm {
            case .rms?:
                r.withUnsafeMutableBufferPointer { rp in
                    let row = rp.baseAddress! + t * E
                    // Reductions over experts run in source-expert order, so a permuted pack gives the same bits.
                    let inv = 1 / (Engine.sumOfSquares(row, E, order: x.sourceIndex) / Float(E) + eps).squareRoot()
                    for e in 0..<E { row[e] = routerNormWeights[e] * (row[e] * inv) }
                }
            case .sum?:
                var s: Float = 0
                if x.sourceIndex.isEmpty {
                    for e in 0..<E { s += r[t * E + e] }
                } else {
                    var ordered = [Float](repeating: 0, count: E)
                    for e in 0..<E { ordered[x.sourceIndex[e]] = r[t * E + e] }
                    for v in ordered { s += v }
                }
                let d = s * Float(weights.config.normScale ?? 1) + 1e-5
                for e in 0..<E { r[t * E + e] /= d }
            default:
                break
            }
        }
        var experts = options.ffnMode == .dense ? Array(0..<E) : (0..<E).filter { active[$0] }
        // Accumulate in source-expert order (DECISIONS.md 7), whatever order a pack stores experts in.
        if !x.sourceIndex.isEmpty { experts.sort { x.sourceIndex[$0] < x.sourceIndex[$1] } }
        guard let de = x.up.first?.rows, !experts.isEmpty else { return (r, experts.count) }
        // Up projections of the union experts for all T tokens, then SiLU and the router gate.
        let width = experts.count * de
        var g = [Float](repeating: 0, count: T * width)
        b.withUnsafeBufferPointer { bp in
            g.withUnsafeMutableBufferPointer { gp in
                ExpertMatMul.up(x: bp.baseAddress!, tokens: T, blocks: experts.map { x.up[$0] }, out: gp.baseAddress!, threads: threads)
            }
        }
        // A (token, expert) pair whose score is 0 contributes exact zeros ("apply a mask based on A(x)"),
        // so its SiLU is not computed (the down product adds +0 either way).
        for t in 0..<T {
            for (k, e) in experts.enumerated() {
                let score = r[t * E + e]
                let base = t * width + k * de
                if score == 0 {
                    for i in 0..<de { g[base + i] = 0 }
                } else {
                    for i in 0..<de { g[base + i] = Ops.silu(g[base + i]) * score }
                }
            }
        }
        g.withUnsafeBufferPointer { gp in
            out.withUnsafeMutableBufferPointer { op in
                ExpertMatMul.down(g: gp.baseAddress!, tokens: T, blocks: experts.map { x.down[$0] }, out: op.baseAddress!, threads: threads)
            }
        }
        return (r, experts.count)
    }
}

/// One attention call's operands, shared read-only by the parts of the pool (each writes its tokens' rows).
struct AttentionJob: @unchecked Sendable {
    let q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let heads: Int, kvHeads: Int, keyDim: Int, valueDim: Int
    let scale: Float

    /// Softmax attention of token `t` (every head) over `slots`, in slot order; `scores` holds at least
    /// `slots.count` floats of scratch. Writes the token's `heads × valueDim` outputs (which must be zero).
    func token(_ t: Int, _ slots: VisibleSlots, scores: UnsafeMutablePointer<Float>) {
        let n = slots.count, group = heads / kvHeads
        for hd in 0..<heads {
            let g = hd / group
            let qp = q + (t * heads + hd) * keyDim
            var maxS = -Float.infinity
            for i in 0..<n {
                let j = slots[i]
                let s = Dot.dot(qp, keys + (j * kvHeads + g) * keyDim, keyDim) * scale
                scores[i] = s
                if s > maxS { maxS = s }
            }
            var sum: Float = 0
            for i in 0..<n {
                let e = expf(scores[i] - maxS)
                scores[i] = e
                sum += e
            }
            let op = out + (t * heads + hd) * valueDim
            for i in 0..<n {
                let j = slots[i]
                let p = scores[i] / sum
                let vp = values + (j * kvHeads + g) * valueDim
                for d in 0..<valueDim { op[d] = op[d].addingProduct(p, vp[d]) }
            }
        }
    }
}

/// The cache slots a token attends to, ascending: slots `0 ..< prefix`, then `extra`.
struct VisibleSlots {
    var prefix: Int
    var extra: [Int]
    var count: Int { prefix + extra.count }
    @inline(__always) subscript(i: Int) -> Int { i < prefix ? i : extra[i - prefix] }
}

/// Small float32 helpers shared by the forward pass.
enum Ops {
    @inline(__always)
    static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// out[t] = w ⊙ x[t] / sqrt(mean(x[t]²) + eps), the mean in `Dot`'s fixed order.
    static func rmsNorm(_ x: [Float], _ w: WeightMatrix, _ eps: Float, _ T: Int, _ n: Int, into out: inout [Float]) {
        let weight = w.rowValues(0) // widened once per call, not per element
        x.withUnsafeBufferPointer { xp in
            for t in 0..<T {
                let row = xp.baseAddress! + t * n
                let inv = 1 / (Dot.dot(row, row, n) / Float(n) + eps).squareRoot()
                for j in 0..<n { out[t * n + j] = weight[j] * (row[j] * inv) }
            }
        }
    }

    /// out[T, w.rows] = x[T, w.cols] · wᵀ.
    static func matmul(_ x: [Float], _ T: Int, _ w: WeightMatrix, into out: inout [Float], threads: Int) {
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                MatMul.run(x: xp.baseAddress!, tokens: T, xStride: w.cols, w: w, out: op.baseAddress!, outStride: w.rows, threads: threads)
            }
        }
    }
}
