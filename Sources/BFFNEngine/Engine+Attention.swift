import BFFNCore
import BFFNKernels
import BFFNModel

#if canImport(Glibc)
import Glibc
#endif

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
            VectorOps.matmul(cqn, T, qB, into: &q, threads: threads, activations: options.activations)
            var latent = [Float](repeating: 0, count: T * kvLora)
            for t in 0..<T { for j in 0..<kvLora { latent[t * kvLora + j] = c[t * kvA.rows + j] } }
            var latentNormed = latent
            VectorOps.rmsNorm(latent, kvANorm, 1e-6, T, kvLora, into: &latentNormed)
            var kv = [Float](repeating: 0, count: T * kvB.rows)
            VectorOps.matmul(latentNormed, T, kvB, into: &kv, threads: threads, activations: options.activations)
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
        let slotCapacity = length + T, headCount = nh
        func run<L: WeightLoader>(_ job: AttentionJob<L>, _ vis: UnsafeBufferPointer<VisibleSlots>) {
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
        keys[l].withBytes { K in
            values[l].withBytes { Vv in
                q.withUnsafeBufferPointer { Q in
                    o.withUnsafeMutableBufferPointer { O in
                        visible.withUnsafeBufferPointer { vis in
                            func job<L: WeightLoader>(_ loader: L) -> AttentionJob<L> {
                                AttentionJob(q: Q.baseAddress!, keys: K, values: Vv, out: O.baseAddress!, heads: nh, kvHeads: kvHeads,
                                             keyDim: keyDim, valueDim: valueDim, scale: attentionScale, keyWidth: keyWidth,
                                             sharedNope: sharedRopeKey ? nopeDim : 0, loader: loader,
                                             elementBytes: kvPrecision.bytes)
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
        VectorOps.matmul(o, T, lw.attention.output, into: &out, threads: threads, activations: options.activations)
    }
}

/// One attention call's operands, shared read-only by the parts of the pool (each writes its tokens' rows); the
/// cache's keys and values are read through `loader` (float32 or bf16 widened exactly).
struct AttentionJob<Loader: WeightLoader> {
    let q: UnsafePointer<Float>, keys: UnsafeRawPointer, values: UnsafeRawPointer
    let out: UnsafeMutablePointer<Float>
    let heads: Int, kvHeads: Int, keyDim: Int, valueDim: Int
    let scale: Float
    /// Numbers of one slot's keys, and (non-zero) the own part of each head's key when the rotary part is stored
    /// once a slot after every head's own part (MLA).
    let keyWidth: Int, sharedNope: Int
    /// Reads the cache's numbers (`elementBytes` each) as float32.
    let loader: Loader, elementBytes: Int

    /// Softmax attention of token `t` (the heads `heads`) over `slots`, in slot order; `scores` holds at least
    /// `slots.count` floats of scratch. Writes those heads' `valueDim` outputs each (which must be zero).
    func token(_ t: Int, _ slots: VisibleSlots, heads range: Range<Int>, scores: UnsafeMutablePointer<Float>) {
        let n = slots.count, group = heads / kvHeads, size = elementBytes
        for hd in range {
            let g = hd / group
            let qp = q + (t * heads + hd) * keyDim
            var maxS = -Float.infinity
            for i in 0..<n {
                let j = slots[i]
                let slot = keys + j * keyWidth * size
                let s = (sharedNope > 0 ? Dot.dot(qp, slot + g * sharedNope * size, sharedNope, slot + kvHeads * sharedNope * size,
                                                  keyDim - sharedNope, loader)
                                        : Dot.dot(qp, slot + g * keyDim * size, keyDim, loader)) * scale
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
                let vp = values + (j * kvHeads + g) * valueDim * size
                // Eight outputs at a time, each a fused multiply-add of its own (the same bits as one by one).
                let pv = SIMD8<Float>(repeating: p), orow = UnsafeMutableRawPointer(op)
                var d = 0
                while d + 8 <= valueDim {
                    var acc = orow.loadUnaligned(fromByteOffset: d * 4, as: SIMD8<Float>.self)
                    acc.addProduct(pv, loader.load8(vp, d))
                    orow.storeBytes(of: acc, toByteOffset: d * 4, as: SIMD8<Float>.self)
                    d += 8
                }
                while d < valueDim {
                    op[d] = op[d].addingProduct(p, loader.load1(vp, d))
                    d += 1
                }
            }
        }
    }
}
