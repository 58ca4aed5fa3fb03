import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel

/// Drafting with an EAGLE head over the target's features, as the published engine does (docs/model.md, "EAGLE
/// draft heads"): the head reads pairs (token t[i+1], feature f[i]) of the committed text, keeps its own KV cache,
/// and grows a dynamic tree: the root's top-k, then `depth - 1` rounds in which the k best frontier tokens (by
/// cumulative draft log-probability) are run, each paired with its parent's output feature, and give k children
/// each; the tree is the `maxNodes` best of all candidates by cumulative log-probability (ties: the earlier
/// candidate), which keeps parents before children.
///
/// The shape maps to the published hyper-parameters as width = top-k per iteration, depth = num_iter, maxNodes =
/// tree_size - 1 (defaults 10, 3, 31: `DraftShape.eagle`). A smaller node budget (adaptive drafting) also runs fewer rows: at most
/// `maxNodes` are expanded per round.
///
/// The head's arithmetic is float32 (the published engine rounds its scores to bf16; only speed depends on it:
/// the target verifies every draft).
public final class EagleDrafter: FeatureDrafter {
    public let name: String
    /// The head and the vocabulary it drafts in.
    public let head: EagleHead
    public let vocabulary: DraftVocabulary
    /// The most observed pairs a draft runs before building its tree (nil: all). After a stretch without drafts
    /// (adaptive drafting found they did not pay) the head would otherwise catch up on every skipped position, a
    /// cost of the stretch's length; with a limit it runs the last pairs only and its cache lacks the others,
    /// which changes its drafts, never the output.
    public var catchUpLimit: Int?
    /// The log-probabilities over the draft vocabulary at the root of the last tree (for reports and tests).
    public private(set) var lastRootLogProbabilities: [Float] = []

    let target: ModelWeights
    let threads: Int
    let H: Int, heads: Int, kvHeads: Int, headDim: Int
    let eps: Float, embedScale: Float, headScale: Float
    /// The head's rotary embedding: its config's `rope_theta`, `rope_scaling` and `max_position_embeddings`, each
    /// the target's where the head's config gives none.
    public let rotary: RotaryEmbedding
    let norm1: [Float], norm2: [Float], fcBias: [Float]
    let layerNorms: [(input: [Float], post: [Float])]
    /// The draft LM head: the target's head (identity vocabulary) or its rows of the draft vocabulary in float32.
    let draftHead: WeightMatrix
    let draftHeadStorage: UnsafeMutablePointer<Float>?
    /// The committed cache: per layer, one row of kvHeads x headDim floats per EAGLE position.
    var keys: [[Float]], values: [[Float]]
    /// The draft rows of the tree being built, same layout.
    var draftKeys: [[Float]], draftValues: [[Float]]
    var committed = 0
    /// Pairs observed and not yet run: features (H floats each) and the tokens that follow them.
    var pendingFeatures: [Float] = [], pendingTokens: [Int] = []
    /// Observed positions dropped from the pending ones because `catchUpLimit` would skip them anyway (so a long
    /// run of plain steps keeps at most that many features).
    var droppedPending = 0
    /// The head's output for the last committed pair (the root's feature).
    var rootOutput: [Float]?

    /// - Parameters:
    ///   - head: the head; its hidden size must equal the target's.
    ///   - vocabulary: the draft vocabulary (identity: `.identity(V)`).
    ///   - target: the target's weights (its embedding, head, norm epsilon and scales are used).
    ///   - threads: threads for the head's matrix products.
    /// - Throws: `.shapeMismatch` for a hidden size that differs; `.outOfBounds` for a vocabulary larger than the
    ///   target's.
    public init(head: EagleHead, vocabulary: DraftVocabulary, target: ModelWeights, threads: Int = 1, name: String = "eagle") throws {
        let a = target.architecture, c = target.config
        try head.check(targetHiddenSize: a.hiddenSize, file: nil)
        guard vocabulary.count <= a.vocabSize else {
            throw BFFNError(.outOfBounds, "a draft vocabulary of \(vocabulary.count) exceeds the target's \(a.vocabSize)", field: "draft vocabulary")
        }
        self.head = head
        self.vocabulary = vocabulary
        self.target = target
        self.threads = max(1, threads)
        self.name = name
        H = a.hiddenSize
        (heads, kvHeads, headDim) = (head.config.heads, head.config.kvHeads, head.config.headDim)
        eps = Float(c.rmsNormEps ?? 1e-6)
        let scales = target.scales
        (embedScale, headScale) = (scales.embedding, scales.head)
        rotary = EagleDrafter.rotaryEmbedding(head: head.config, target: c)
        norm1 = head.inputNorm1.rowValues(0)
        norm2 = head.inputNorm2.rowValues(0)
        fcBias = head.fcBias.rowValues(0)
        layerNorms = head.layers.map { ($0.inputNorm.rowValues(0), $0.postNorm.rowValues(0)) }
        if let ids = vocabulary.ids {
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: ids.count * H)
            for (k, id) in ids.enumerated() { target.head.loadRow(id, into: rows + k * H) }
            draftHeadStorage = rows
            draftHead = WeightMatrix(base: UnsafeRawPointer(rows), type: .f32, rows: ids.count, cols: H)
        } else {
            draftHeadStorage = nil
            draftHead = target.head.rows(0, vocabulary.count)
        }
        keys = Array(repeating: [], count: head.layers.count)
        values = keys
        draftKeys = keys
        draftValues = keys
    }

    deinit { draftHeadStorage?.deallocate() }

    public func reset() {
        for l in keys.indices { keys[l].removeAll(keepingCapacity: true); values[l].removeAll(keepingCapacity: true) }
        committed = 0
        droppedPending = 0
        pendingFeatures.removeAll()
        pendingTokens.removeAll()
        rootOutput = nil
    }

    public func observe(features: [Float], nextTokens: [Int]) throws {
        guard features.count == nextTokens.count * H else {
            throw BFFNError(.usage, "\(features.count) feature floats for \(nextTokens.count) tokens of width \(H)", field: "features")
        }
        for (i, t) in nextTokens.enumerated() where t < 0 || t >= target.architecture.vocabSize {
            throw BFFNError(.outOfBounds, "token id \(t) at index \(i) is outside the vocabulary", field: "token ids")
        }
        pendingFeatures += features
        pendingTokens += nextTokens
        if let limit = catchUpLimit, pendingTokens.count > 2 * max(limit, 1) {
            let drop = pendingTokens.count - max(limit, 1)
            pendingTokens.removeFirst(drop)
            pendingFeatures.removeFirst(drop * H)
            droppedPending += drop
        }
    }

    /// The observed positions the next draft runs first (at most `catchUpLimit`).
    public func pendingPositions(context: [Int]) -> Int { min(pendingTokens.count, catchUpLimit ?? Int.max) }

    /// The head's parameters over the target's (its one decoder layer against the target's layers and head);
    /// computed once (the adaptive controller asks at every step).
    public var relativeCost: Double {
        if let cachedRelativeCost { return cachedRelativeCost }
        let cost = Double(head.parameterCount) / max(Double(target.allMatrices.reduce(0) { $0 + $1.matrix.rows * $1.matrix.cols }), 1)
        cachedRelativeCost = cost
        return cost
    }
    private var cachedRelativeCost: Double?

    /// Builds the tree below the root (the last observed token); the context itself is not read (the head works
    /// from the observed features).
    /// - Throws: `.usage` when no features were observed since `reset()`.
    public func draft(context: [Int], shape: DraftShape) throws -> DraftTree {
        if !pendingTokens.isEmpty {
            let all = pendingTokens.count, start = committed + droppedPending
            // With a catch-up limit, only the last pairs run, at their own positions; the cache lacks the others.
            let skip = catchUpLimit.map { max(0, all - max($0, 1)) } ?? 0, n = all - skip
            let out = run(tokens: Array(pendingTokens[skip...]), features: Array(pendingFeatures[(skip * H)...]),
                          positions: Array((start + skip)..<(start + all)), ancestors: nil)
            committed = start + all
            droppedPending = 0
            rootOutput = Array(out[((n - 1) * H)..<(n * H)])
            pendingTokens.removeAll()
            pendingFeatures.removeAll()
        }
        guard let root = rootOutput else {
            throw BFFNError(.usage, "the EAGLE drafter has no target features: run it through the speculative decoder", field: "features")
        }
        let k = max(1, min(shape.width, vocabulary.count)), budget = max(1, shape.maxNodes)
        let rootLog = logProbabilities(root, rows: 1)
        lastRootLogProbabilities = rootLog
        // History: every candidate (score, draft index, parent history index, round row that produced it).
        var scores: [Float] = [], drafted: [Int] = [], parents: [Int] = []
        for t in topPositions(rootLog, count: k) {
            scores.append(rootLog[t])
            drafted.append(t)
            parents.append(-1)
        }
        let rowsPerRound = min(k, budget)
        // The rows of the next round: history index, the parent's output feature, the draft rows it attends to.
        var frontier: [(entry: Int, feature: ArraySlice<Float>, ancestors: [Int])] =
            (0..<min(rowsPerRound, scores.count)).map { ($0, root[...], []) }
        for l in draftKeys.indices { draftKeys[l].removeAll(keepingCapacity: true); draftValues[l].removeAll(keepingCapacity: true) }
        var draftRows = 0
        if shape.depth >= 2 {
            for round in 2...shape.depth {
                let n = frontier.count
                let tokens = frontier.map { vocabulary.token(drafted[$0.entry]) }
                var features: [Float] = []
                features.reserveCapacity(n * H)
                for f in frontier { features += f.feature }
                let firstRow = draftRows
                let out = run(tokens: tokens, features: features, positions: Array(repeating: committed + round - 2, count: n),
                              ancestors: frontier.map(\.ancestors))
                draftRows += n
                let logs = logProbabilities(out, rows: n)
                let base = scores.count
                var rowOf: [Int] = []
                for r in 0..<n {
                    let row = logs[(r * vocabulary.count)..<((r + 1) * vocabulary.count)]
                    for t in topPositions(row, count: k) {
                        scores.append(scores[frontier[r].entry] + row[row.startIndex + t])
                        drafted.append(t)
                        parents.append(frontier[r].entry)
                        rowOf.append(r)
                    }
                }
                if round == shape.depth { break }
                let best = EagleDrafter.bestFirst(scores[base...].map { $0 }, count: rowsPerRound)
                frontier = best.map { i in
                    let r = rowOf[i]
                    return (base + i, out[(r * H)..<((r + 1) * H)], frontier[r].ancestors + [firstRow + r])
                }
            }
        }
        var tree = DraftTree()
        var nodeOf: [Int: Int] = [:]
        for entry in EagleDrafter.bestFirst(scores, count: budget) {
            let parent = parents[entry] < 0 ? -1 : nodeOf[parents[entry]]
            guard let parent else { continue } // cannot happen: a child never outscores its parent
            nodeOf[entry] = tree.add(vocabulary.token(drafted[entry]), parent: parent)
        }
        return tree
    }

    /// The rotary embedding a head of `head`'s config runs with over a target configured by `target`: the head's
    /// `rope_theta`, `rope_scaling` and `max_position_embeddings`, each the target's where the head gives none.
    public static func rotaryEmbedding(head: EagleConfig, target c: ModelConfig) -> RotaryEmbedding {
        RotaryEmbedding(dimensions: head.headDim, theta: Float(head.ropeTheta ?? c.ropeTheta ?? 10000),
                        scaling: head.ropeScaling ?? c.ropeScaling, maxPositions: head.maxPositionEmbeddings ?? c.maxPositionEmbeddings ?? 4096)
    }

    /// Indices of the `count` largest scores, descending, ties to the lower index.
    static func bestFirst(_ scores: [Float], count: Int) -> [Int] {
        Array(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(count))
    }

    /// Log-softmax over the draft vocabulary of the draft logits (h / (H / dim_model_base)) · W_head[vocabulary]ᵀ
    /// for `rows` outputs.
    func logProbabilities(_ h: [Float], rows: Int) -> [Float] {
        let scaled = h.map { $0 / headScale }
        let V = vocabulary.count
        var logits = [Float](repeating: 0, count: rows * V)
        VectorOps.matmul(scaled, rows, draftHead, into: &logits, threads: threads)
        logits.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows { TransformerMath.logSoftmax(UnsafeMutableBufferPointer(rebasing: p[(r * V)..<((r + 1) * V)])) }
        }
        return logits
    }

    /// Runs the head on pairs (tokens[i], feature row i) at `positions`. With `ancestors` nil the rows are
    /// committed (appended to the cache, each seeing the cache and the rows before it); otherwise they are draft
    /// rows, each seeing the committed cache, the draft rows listed and itself. Returns the outputs (n x H).
    func run(tokens: [Int], features: [Float], positions: [Int], ancestors: [[Int]]?) -> [Float] {
        let n = tokens.count
        var embedded = [Float](repeating: 0, count: n * H)
        for (i, t) in tokens.enumerated() {
            let row = target.embedding.rowValues(t)
            for j in 0..<H { embedded[i * H + j] = row[j] * embedScale }
        }
        // x = fc([RMSNorm1(e) ‖ RMSNorm2(f)]) + bias
        var joined = [Float](repeating: 0, count: n * 2 * H)
        var e = [Float](repeating: 0, count: n * H), f = e
        VectorOps.rmsNorm(embedded, weight: norm1, eps, rows: n, width: H, into: &e)
        VectorOps.rmsNorm(features, weight: norm2, eps, rows: n, width: H, into: &f)
        for i in 0..<n {
            for j in 0..<H {
                joined[i * 2 * H + j] = e[i * H + j]
                joined[i * 2 * H + H + j] = f[i * H + j]
            }
        }
        var x = [Float](repeating: 0, count: n * H)
        VectorOps.matmul(joined, n, head.fc, into: &x, threads: threads)
        for i in 0..<n { for j in 0..<H { x[i * H + j] += fcBias[j] } }
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim, group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        // Dynamic RoPE scaling treats committed rows on an empty cache as a prefill, as the engine does.
        let prefill = ancestors == nil && (keys.first?.isEmpty ?? true)
        for (l, layer) in head.layers.enumerated() {
            var a = x
            if l > 0 { VectorOps.rmsNorm(x, weight: layerNorms[l].input, eps, rows: n, width: H, into: &a) }
            var q = [Float](repeating: 0, count: n * qWidth), k = [Float](repeating: 0, count: n * kvWidth), v = k
            VectorOps.matmul(a, n, layer.q, into: &q, threads: threads)
            VectorOps.matmul(a, n, layer.k, into: &k, threads: threads)
            VectorOps.matmul(a, n, layer.v, into: &v, threads: threads)
            rope(&q, heads, positions, prefill: prefill)
            rope(&k, kvHeads, positions, prefill: prefill)
            let committedBefore = keys[l].count / kvWidth, draftBefore = draftKeys[l].count / kvWidth
            if ancestors == nil {
                keys[l] += k
                values[l] += v
            } else {
                draftKeys[l] += k
                draftValues[l] += v
            }
            var attended = [Float](repeating: 0, count: n * qWidth)
            keys[l].withUnsafeBufferPointer { ck in values[l].withUnsafeBufferPointer { cv in
            draftKeys[l].withUnsafeBufferPointer { dk in draftValues[l].withUnsafeBufferPointer { dv in
                for i in 0..<n {
                    // The key/value rows row i sees: committed rows, then draft rows.
                    var rows: [(UnsafePointer<Float>, UnsafePointer<Float>)] = []
                    if let ancestors {
                        for r in 0..<committedBefore { rows.append((ck.baseAddress! + r * kvWidth, cv.baseAddress! + r * kvWidth)) }
                        for r in ancestors[i] + [draftBefore + i] { rows.append((dk.baseAddress! + r * kvWidth, dv.baseAddress! + r * kvWidth)) }
                    } else {
                        for r in 0...(committedBefore + i) { rows.append((ck.baseAddress! + r * kvWidth, cv.baseAddress! + r * kvWidth)) }
                    }
                    q.withUnsafeBufferPointer { qp in
                        var weights = [Float](repeating: 0, count: rows.count)
                        for hd in 0..<heads {
                            let qv = qp.baseAddress! + i * qWidth + hd * headDim, kvOffset = (hd / group) * headDim
                            var m = -Float.infinity
                            for (r, row) in rows.enumerated() {
                                let s = Dot.dot(qv, UnsafeRawPointer(row.0 + kvOffset), .f32, headDim) * scale
                                weights[r] = s
                                if s > m { m = s }
                            }
                            weights.withUnsafeMutableBufferPointer { TransformerMath.softmax($0.baseAddress!, count: $0.count) }
                            let o = i * qWidth + hd * headDim
                            for (r, row) in rows.enumerated() {
                                let w = weights[r]
                                for j in 0..<headDim { attended[o + j] += w * row.1[kvOffset + j] }
                            }
                        }
                    }
                }
            } } } }
            var o = [Float](repeating: 0, count: n * H)
            VectorOps.matmul(attended, n, layer.o, into: &o, threads: threads)
            for i in 0..<(n * H) { x[i] += o[i] }
            var y = x
            VectorOps.rmsNorm(x, weight: layerNorms[l].post, eps, rows: n, width: H, into: &y)
            let I = head.config.intermediateSize
            var gate = [Float](repeating: 0, count: n * I), up = gate
            VectorOps.matmul(y, n, layer.gate, into: &gate, threads: threads)
            VectorOps.matmul(y, n, layer.up, into: &up, threads: threads)
            for i in 0..<(n * I) { gate[i] = VectorOps.silu(gate[i]) * up[i] }
            var down = [Float](repeating: 0, count: n * H)
            VectorOps.matmul(gate, n, layer.down, into: &down, threads: threads)
            for i in 0..<(n * H) { x[i] += down[i] }
        }
        return x
    }

    /// Rotate-half RoPE on each of `count` heads of every row, at the row's position (`rotary`; a committed run
    /// from an empty cache is a prefill for dynamic scaling, as the engine's).
    func rope(_ x: inout [Float], _ count: Int, _ positions: [Int], prefill: Bool) {
        let (cosT, sinT) = rotary.tables(positions, prefill: prefill)
        rotary.apply(&x, tokens: positions.count, cos: cosT, sin: sinT) { i in (0..<count).map { (i * count + $0) * self.headDim } }
    }
}
