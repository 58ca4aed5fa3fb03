import BFFNCore
import BFFNKernels
import BFFNModel

extension Engine {
    /// One layer's attention for the call's T tokens; `rope` holds their cos/sin tables (the same for every layer).
    func attention(layer l: Int, _ lw: LayerWeights, _ a: [Float], _ T: Int, _ rope: (cos: [Float], sin: [Float]),
                   _ visible: [VisibleSlots], into out: inout [Float]) {
        let threads = options.threads
        let (cosT, sinT) = rope
        var q = [Float](repeating: 0, count: T * nh * keyDim)
        var newK = [Float](repeating: 0, count: T * keyWidth)
        var newV = [Float](repeating: 0, count: T * kvHeads * valueDim)
        switch lw.attention {
        case .mla(let mla):
            let qA = mla.qA, qANorm = mla.qANorm, qB = mla.qB, kvA = mla.kvA, kvANorm = mla.kvANorm, kvB = mla.kvB
            let qLora = qA.rows, kvLora = kvANorm.cols
            var cq = [Float](repeating: 0, count: T * qLora)
            var c = [Float](repeating: 0, count: T * kvA.rows)
            VectorOps.matmul(a, T, qA, into: &cq, kvA, into: &c, threads: threads, activations: options.activations)
            var cqn = cq
            VectorOps.rmsNorm(cq, qANorm, 1e-6, T, qLora, into: &cqn)
            activationObserver?.observe(.queryLatent(layer: l), cqn, tokens: T, width: qLora)
            var latent = [Float](repeating: 0, count: T * kvLora)
            for t in 0..<T { for j in 0..<kvLora { latent[t * kvLora + j] = c[t * kvA.rows + j] } }
            var latentNormed = latent
            VectorOps.rmsNorm(latent, kvANorm, 1e-6, T, kvLora, into: &latentNormed)
            var kv = [Float](repeating: 0, count: T * kvB.rows)
            activationObserver?.observe(.keyValueLatent(layer: l), latentNormed, tokens: T, width: kvLora)
            // The two up-projections are independent: one hand-off to the workers for both.
            VectorOps.matmul(cqn, qB, into: &q, latentNormed, kvB, into: &kv, tokens: T, threads: threads, activations: options.activations)
            // The shared rotary key k_pe sits after the latent in c; each head's rotary part after its nope part.
            applyRope(&c, T, cosT, sinT) { t in [t * kvA.rows + kvLora] }
            applyRope(&q, T, cosT, sinT) { t in (0..<self.nh).map { (t * self.nh + $0) * self.keyDim + self.nopeDim } }
            // Each head's key (its nope part, then the shared rotary key: with `sharedRopeKey` the rotary part once a
            // slot, after every head's own part) and value.
            let kvWidth = nopeDim + valueDim, shared = sharedRopeKey, keyWidth = self.keyWidth
            kv.withUnsafeBufferPointer { kvp in
                c.withUnsafeBufferPointer { cp in
                    newK.withUnsafeMutableBufferPointer { kp in
                        newV.withUnsafeMutableBufferPointer { vp in
                            for t in 0..<T {
                                let rotary = cp.baseAddress! + t * kvA.rows + kvLora
                                let slot = kp.baseAddress! + t * keyWidth
                                for hd in 0..<nh {
                                    let src = kvp.baseAddress! + t * kvB.rows + hd * kvWidth
                                    let key = shared ? slot + hd * nopeDim : slot + hd * keyDim
                                    key.update(from: src, count: nopeDim)
                                    if !shared { (key + nopeDim).update(from: rotary, count: ropeDim) }
                                    (vp.baseAddress! + (t * nh + hd) * valueDim).update(from: src + nopeDim, count: valueDim)
                                }
                                if shared { (slot + nh * nopeDim).update(from: rotary, count: ropeDim) }
                            }
                        }
                    }
                }
            }
        case .gqa(let gqa):
            VectorOps.matmul(a, T, gqa.q, into: &q, gqa.k, into: &newK, gqa.v, into: &newV, threads: threads,
                             activations: options.activations)
            applyRope(&q, T, cosT, sinT) { t in (0..<self.nh).map { (t * self.nh + $0) * self.keyDim } }
            applyRope(&newK, T, cosT, sinT) { t in (0..<self.kvHeads).map { (t * self.kvHeads + $0) * self.keyDim } }
        }
        keys[l].append(newK)
        values[l].append(newV)
        // Softmax attention per (token, head) over the token's visible slots (its ancestors and itself), in
        // slot order, which is position order along any path: the same keys in the same order as decoding the
        // path token by token. Tokens are split over the pool (each output row is computed by one part in
        // this fixed order, so the thread count never changes a bit).
        var o = [Float](repeating: 0, count: T * nh * valueDim)
        let pairs = visible.reduce(0) { $0 + $1.count } * nh * (keyDim + valueDim)
        let parts = threads > 1 && T > 1 && pairs >= 1 << 16 ? min(T, threads * 4) : 1
        // One token (decode): its heads are split over the pool instead, so the attention over the cache does not
        // leave the workers idle (each head's output is computed by one part in the same order, so the split never
        // changes a bit).
        let headParts = threads > 1 && T == 1 && pairs >= 1 << 15 ? min(nh, threads) : 1
        // More threads than heads: the scores are split over slot ranges, then every head's softmax and value sums
        // over stripes of its value dimensions (each output still summed over the slots in order by one part).
        let stripes = headParts > 1 && threads > nh ? min(max(1, (threads * 2 + nh - 1) / nh), valueDim / 8) : 1
        let slotCapacity = length + T, headCount = nh, valueWidth = valueDim
        func run<L: WeightLoader>(_ job: AttentionJob<L>, _ vis: UnsafeBufferPointer<VisibleSlots>) {
            if stripes > 1 {
                let n = vis[0].count, slotParts = min(n, threads * 2)
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: headCount * n)
                defer { scores.deallocate() }
                WorkerPool.shared.run(parts: slotParts, threads: threads) { p in
                    job.scores(0, vis[0], slots: (n * p / slotParts)..<(n * (p + 1) / slotParts), heads: 0..<headCount, into: scores)
                }
                WorkerPool.shared.run(parts: headCount * stripes, threads: threads) { p in
                    let hd = p / stripes, stripe = p % stripes
                    // Stripes of whole groups of 8 dimensions (the value loop's step), so every output sees the same steps.
                    let groups = valueWidth / 8, d0 = groups * stripe / stripes * 8
                    let d1 = stripe == stripes - 1 ? valueWidth : groups * (stripe + 1) / stripes * 8
                    let weights = UnsafeMutablePointer<Float>.allocate(capacity: n)
                    defer { weights.deallocate() }
                    job.values(0, vis[0], head: hd, scores: scores + hd * n, dimensions: d0..<d1, scratch: weights)
                }
                return
            }
            WorkerPool.shared.run(parts: headParts > 1 ? headParts : parts, threads: threads) { p in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: slotCapacity)
                defer { scores.deallocate() }
                if headParts > 1 {
                    job.token(0, vis[0], heads: (headCount * p / headParts)..<(headCount * (p + 1) / headParts), scores: scores)
                } else {
                    for t in (T * p / parts)..<(T * (p + 1) / parts) { job.token(t, vis[t], heads: 0..<headCount, scores: scores) }
                }
            }
        }
        let keyBases = keys[l].bases, valueBases = values[l].bases
        keyBases.withUnsafeBufferPointer { K in
            valueBases.withUnsafeBufferPointer { Vb in
                q.withUnsafeBufferPointer { Q in
                    o.withUnsafeMutableBufferPointer { O in
                        visible.withUnsafeBufferPointer { vis in
                            func job<L: WeightLoader>(_ loader: L) -> AttentionJob<L> {
                                AttentionJob(q: Q.baseAddress!, keyParts: K.baseAddress!, valueParts: Vb.baseAddress!, out: O.baseAddress!,
                                             heads: nh, kvHeads: kvHeads, keyDim: keyDim, valueDim: valueDim, scale: attentionScale,
                                             sharedNope: sharedRopeKey ? nopeDim : 0, loader: loader, elementBytes: kvPrecision.bytes)
                            }
                            switch kvPrecision {
                            case .float32: run(job(F32Loader()), vis)
                            case .bf16: run(job(BF16Loader()), vis)
                            }
                        }
                    }
                }
            }
        }
        activationObserver?.observe(.attentionOutput(layer: l), o, tokens: T, width: nh * valueDim)
        VectorOps.matmul(o, T, lw.attention.output, into: &out, threads: threads, activations: options.activations)
    }
}

/// One attention call's operands, shared read-only by the parts of the pool (each writes its tokens' rows); the
/// cache's keys and values are read through `loader` (float32, or bf16 widened exactly).
struct AttentionJob<Loader: WeightLoader> {
    let q: UnsafePointer<Float>
    /// The base of each key part (a key head's numbers slot after slot; with MLA's shared rotary key, each head's
    /// own part, then the rotary part last) and of each value part (a key head's values slot after slot).
    let keyParts: UnsafePointer<UnsafeRawPointer>, valueParts: UnsafePointer<UnsafeRawPointer>
    let out: UnsafeMutablePointer<Float>
    let heads: Int, kvHeads: Int, keyDim: Int, valueDim: Int
    let scale: Float
    /// Non-zero: each head's own key numbers, when the rotary part is a part of its own (MLA).
    let sharedNope: Int
    /// Reads the cache's numbers (`elementBytes` each) as float32.
    let loader: Loader, elementBytes: Int

    /// Softmax attention of token `t` (the heads `heads`) over `slots`, in slot order; `scores` holds at least
    /// `slots.count` floats of scratch. Writes those heads' `valueDim` outputs each (which must be zero). A head's
    /// keys and values are parts of their own, so each head's walk reads memory in order (with every head's numbers
    /// side by side in a slot, each step jumped a whole slot, a new page each time, which the hardware prefetchers
    /// do not follow: at 1 024 positions one thread read the cache at 7 GB/s).
    func token(_ t: Int, _ slots: VisibleSlots, heads range: Range<Int>, scores: UnsafeMutablePointer<Float>) {
        let n = slots.count
        for hd in range {
            scoresOfHead(t, slots, 0..<n, head: hd, into: scores)
            values(t, slots, head: hd, scores: scores, dimensions: 0..<valueDim, scratch: scores)
        }
    }

    /// The scores of token `t` against slots `slots[i]`, i in `range`, for every head of `heads`: head h's score i at
    /// `into[h * slots.count + i]`.
    func scores(_ t: Int, _ slots: VisibleSlots, slots range: Range<Int>, heads: Range<Int>, into: UnsafeMutablePointer<Float>) {
        for hd in heads { scoresOfHead(t, slots, range, head: hd, into: into + hd * slots.count) }
    }

    /// Head `hd`'s scores against slots `slots[i]`, i in `range`, at `into[i]`: x · key, times the scale.
    func scoresOfHead(_ t: Int, _ slots: VisibleSlots, _ range: Range<Int>, head hd: Int, into: UnsafeMutablePointer<Float>) {
        let g = hd / (heads / kvHeads), size = elementBytes
        let qp = q + (t * heads + hd) * keyDim
        let own = keyParts[g]
        if sharedNope > 0 {
            let rotary = keyParts[kvHeads], rotaryWidth = keyDim - sharedNope
            for i in range {
                let s = slots[i]
                into[i] = Dot.dot(qp, own + s * sharedNope * size, sharedNope, rotary + s * rotaryWidth * size, rotaryWidth, loader) * scale
            }
        } else {
            for i in range { into[i] = Dot.dot(qp, own + slots[i] * keyDim * size, keyDim, loader) * scale }
        }
    }

    /// Head `hd`'s softmax over its `slots.count` scores, then its outputs `dimensions` (which must be zero): the
    /// slots' values weighted by their probabilities, summed in slot order. `scratch` (which may be `scores`)
    /// receives the probabilities.
    func values(_ t: Int, _ slots: VisibleSlots, head hd: Int, scores: UnsafePointer<Float>, dimensions: Range<Int>,
                scratch: UnsafeMutablePointer<Float>) {
        let n = slots.count, size = elementBytes
        let part = valueParts[hd / (heads / kvHeads)]
        if UnsafePointer(scratch) != scores { scratch.update(from: scores, count: n) }
        TransformerMath.softmax(scratch, count: n)
        for i in 0..<n {
            accumulate(t, head: hd, weight: scratch[i], values: part + slots[i] * valueDim * size, dimensions: dimensions)
        }
    }

    /// Head `hd`'s outputs `dimensions` += p x one slot's value vector `vp`, eight at a time, each a fused
    /// multiply-add of its own (the same bits as one by one).
    @inline(__always)
    func accumulate(_ t: Int, head hd: Int, weight p: Float, values vp: UnsafeRawPointer, dimensions: Range<Int>) {
        let op = out + (t * heads + hd) * valueDim, orow = UnsafeMutableRawPointer(op)
        let pv = SIMD8<Float>(repeating: p)
        var d = dimensions.lowerBound
        while d + 8 <= dimensions.upperBound {
            var acc = orow.loadUnaligned(fromByteOffset: d * 4, as: SIMD8<Float>.self)
            acc.addProduct(pv, loader.load8(vp, d))
            orow.storeBytes(of: acc, toByteOffset: d * 4, as: SIMD8<Float>.self)
            d += 8
        }
        while d < dimensions.upperBound {
            op[d] = op[d].addingProduct(p, loader.load1(vp, d))
            d += 1
        }
    }
}
