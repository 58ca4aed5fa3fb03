import BFFNKernels
import BFFNModel

extension Engine {
    /// Σ x² over n values in `Dot`'s order, taken in source order when `order` (slot → source) is given.
    static func sumOfSquares(_ x: UnsafeMutablePointer<Float>, _ n: Int, order: [Int]) -> Float {
        if order.isEmpty { return Dot.dot(x, x, n) }
        var ordered = [Float](repeating: 0, count: n)
        for i in 0..<n { ordered[order[i]] = x[i] }
        return ordered.withUnsafeBufferPointer { Dot.dot($0.baseAddress!, $0.baseAddress!, n) }
    }


    /// Computes the FFN into `out`; returns the router scores [T, E] (nil for dense vanilla FFNs), the number of
    /// experts computed for any token (the union over the call), and the expert-token products computed (the sum
    /// over chunks of union size x tokens). `groups` cover the call's tokens; the sparse FFN chunks each apart.
    func ffn(_ lw: LayerWeights, layer: Int, _ b: [Float], _ T: Int, groups: [Range<Int>], into out: inout [Float]) throws -> ([Float]?, Int, Int) {
        let threads = options.threads
        for i in 0..<out.count { out[i] = 0 }
        let x: ExpertWeights
        switch lw.ffn {
        case .dense(let d):
            let I = d.gate.rows
            var g = [Float](repeating: 0, count: T * I), u = g
            VectorOps.matmul(b, T, d.gate, into: &g, d.up, into: &u, threads: threads, activations: options.activations)
            for i in 0..<(T * I) { g[i] = VectorOps.silu(g[i]) * u[i] }
            activationObserver?.observe(.denseIntermediate(layer: layer), g, tokens: T, width: I)
            VectorOps.matmul(g, T, d.down, into: &out, threads: threads, activations: options.activations)
            return (nil, 0, 0)
        case .experts(let experts):
            x = experts
        }
        let router = x.router
        let E = router.rows
        var r = [Float](repeating: 0, count: T * E)
        VectorOps.matmul(b, T, router, into: &r, threads: threads, activations: options.activations)
        if options.captureRouterLogits {
            if x.sourceIndex.isEmpty {
                capturedRouterLogits = r
            } else {
                var ordered = r
                for t in 0..<T { for e in 0..<E { ordered[t * E + x.sourceIndex[e]] = r[t * E + e] } }
                capturedRouterLogits = ordered
            }
        }
        var active = [Bool](repeating: false, count: T * E)
        let routerNormWeights = x.routerNorm?.rowValues(0) ?? []
        for t in 0..<T {
            for e in 0..<E {
                let v = max(r[t * E + e], 0)
                r[t * E + e] = v
                if v > 0 { active[t * E + e] = true }
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
        guard let de = x.up.first?.rows else { return (r, 0, 0) }
        // Tokens in chunks, each computing only its own tokens' union (the same bits for any chunk: a token's
        // inactive experts add exact zeros); a streaming provider gets the whole call's union at once instead, so
        // it reads each expert once.
        let chunked = options.ffnMode == .sparse && expertProvider == nil && options.expertChunk > 0
        let chunk = chunked ? max(1, options.expertChunk) : T
        let H = b.count / max(T, 1)
        var used = [Bool](repeating: false, count: E)
        var products = 0
        expertProvider?.prepare(layer: layer, input: b, tokens: T, weights: weights)
        // Chunks within each group (a streaming provider's one chunk spans the call).
        var chunks: [Range<Int>] = []
        if !chunked {
            chunks = [0..<T]
        } else {
            for g in groups {
                var t0 = g.lowerBound
                while t0 < g.upperBound {
                    chunks.append(t0..<min(g.upperBound, t0 + chunk))
                    t0 = chunks[chunks.count - 1].upperBound
                }
            }
        }
        for tokens in chunks {
            var experts = options.ffnMode == .dense ? Array(0..<E) : (0..<E).filter { e in tokens.contains { active[$0 * E + e] } }
            if experts.isEmpty { continue }
            // Accumulate in source-expert order (docs/model.md, decision 7), whatever order a pack stores experts in.
            if !x.sourceIndex.isEmpty { experts.sort { x.sourceIndex[$0] < x.sourceIndex[$1] } }
            for e in experts { used[e] = true }
            products += experts.count * tokens.count
            try chunkFFN(x, layer: layer, experts: experts, de: de, b, tokens: tokens, H: H, scores: r, E: E, into: &out)
        }
        return (r, used.filter { $0 }.count, products)
    }

    /// The experts `experts` (sorted) for tokens `tokens` of the call: rows `tokens` of `out` [T, H].
    private func chunkFFN(_ x: ExpertWeights, layer: Int, experts: [Int], de: Int, _ b: [Float], tokens: Range<Int>, H: Int, scores r: [Float],
                          E: Int, into out: inout [Float]) throws {
        let threads = options.threads, T = tokens.count, t0 = tokens.lowerBound
        // The union's matrices: the mapped weights, or blocks an expert provider reads (a bounded cache).
        let (ups, downs) = try expertProvider?.matrices(layer: layer, slots: experts, mapped: x)
            ?? (experts.map { x.up[$0] }, experts.map { x.down[$0] })
        // Up projections of the union experts for the chunk's tokens, then SiLU and the router gate.
        let width = experts.count * de
        var g = [Float](repeating: 0, count: T * width)
        b.withUnsafeBufferPointer { bp in
            g.withUnsafeMutableBufferPointer { gp in
                ExpertMatMul.up(x: bp.baseAddress! + t0 * H, tokens: T, blocks: ups, out: gp.baseAddress!, threads: threads,
                                activations: options.activations)
            }
        }
        // A (token, expert) pair whose score is 0 contributes exact zeros ("apply a mask based on A(x)"),
        // so its SiLU is not computed (the down product adds +0 either way).
        for t in 0..<T {
            for (k, e) in experts.enumerated() {
                let score = r[(t0 + t) * E + e]
                let base = t * width + k * de
                if score == 0 {
                    for i in 0..<de { g[base + i] = 0 }
                } else {
                    for i in 0..<de { g[base + i] = VectorOps.silu(g[base + i]) * score }
                }
            }
        }
        if let observer = activationObserver {
            observeExperts(observer, x, layer: layer, experts: experts, de: de, b, g, tokens: tokens, H: H, scores: r, E: E)
        }
        g.withUnsafeBufferPointer { gp in
            out.withUnsafeMutableBufferPointer { op in
                ExpertMatMul.down(g: gp.baseAddress!, tokens: T, blocks: downs, out: op.baseAddress! + t0 * H, threads: threads,
                                  activations: options.activations)
            }
        }
    }
}

extension Engine {
    /// Hands `observer` each expert's inputs for the chunk's tokens that activate it (score > 0): the FFN input
    /// rows (its up projection's) and its gated intermediate rows `g` (its down projection's), experts under
    /// their source index.
    func observeExperts(_ observer: ActivationObserver, _ x: ExpertWeights, layer: Int, experts: [Int], de: Int, _ b: [Float],
                        _ g: [Float], tokens: Range<Int>, H: Int, scores r: [Float], E: Int) {
        let width = experts.count * de, t0 = tokens.lowerBound
        for (k, e) in experts.enumerated() {
            let active = tokens.filter { r[$0 * E + e] != 0 }
            if active.isEmpty { continue }
            var up = [Float](), down = [Float]()
            up.reserveCapacity(active.count * H)
            down.reserveCapacity(active.count * de)
            for t in active {
                up += b[(t * H)..<((t + 1) * H)]
                let base = (t - t0) * width + k * de
                down += g[base..<(base + de)]
            }
            let source = x.sourceIndex.isEmpty ? e : x.sourceIndex[e]
            observer.observe(.expertUp(layer: layer, expert: source), up, tokens: active.count, width: H)
            observer.observe(.expertDown(layer: layer, expert: source), down, tokens: active.count, width: de)
        }
    }
}

/// Where a forward call finds the expert matrices of a layer when they are not simply mapped: a bounded cache
/// that reads expert blocks on demand (`ExpertCache`). The matrices must hold exactly the bytes of
/// the mapped ones, so the logits do not change.
public protocol ExpertProvider: AnyObject {
    /// The up and down matrices of the stored slots `slots` of layer `layer` (all of them are needed at once),
    /// valid until the next call; `mapped` are the layer's mapped weights.
    /// - Throws: read errors, and `.checksumMismatch` for a block whose CRC-32 does not match.
    func matrices(layer: Int, slots: [Int], mapped: ExpertWeights) throws -> (up: [WeightMatrix], down: [WeightMatrix])

    /// Called just before `matrices` with the layer's normalised FFN input [T, H], so a provider can guess what
    /// later layers will ask for (the default does nothing).
    func prepare(layer: Int, input: [Float], tokens: Int, weights: ModelWeights)
}

extension ExpertProvider {
    public func prepare(layer: Int, input: [Float], tokens: Int, weights: ModelWeights) {}
}
