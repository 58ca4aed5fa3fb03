import BFFNCheckpoint
import BFFNCore
@testable import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Testing
/// A bf16 KV cache (`EngineOptions.kvCache = .bf16`, `--kv-cache bf16`): keys and values rounded when cached, read
/// widened. A token's logits must still not depend on batching, threads or a tree (the cache holds the same rounded
/// numbers however they got there); against the float32 cache they move a little and the cache halves.
@Suite("bf16 KV cache")
struct KVCachePrecisionTests {
    static func options(threads: Int) -> EngineOptions {
        var o = EngineOptions(threads: threads)
        o.kvCache = .bf16
        return o
    }

    /// MLA (the shared rotary key) and GQA (a head group per key) layouts; 96 tokens so attention splits over the pool.
    @Test(arguments: [Fixtures.trainedModel, Fixtures.path("engine/gqa-blocklinear-rms-f32")])
    func batchingThreadsAndTreesGiveTheSameBits(_ folder: String) throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: folder))
        let ids = try ReferenceOutputs(folder + "/reference.safetensors").inputIds
        let prompt = (0..<96).map { ids[($0 * 7) % ids.count] }
        let V = weights.architecture.vocabSize
        let one = try Engine(weights: weights, options: Self.options(threads: 1)).forward(prompt).logits
        let two = try Engine(weights: weights, options: Self.options(threads: 2))
        #expect(try two.forward(prompt).logits.map(\.bitPattern) == one.map(\.bitPattern), "two threads")
        // Token by token after a 40-token prefix.
        two.truncate(to: 40)
        var tail: [Float] = []
        for t in prompt[40...] { tail += try two.forward([t]).logits }
        #expect(tail.map(\.bitPattern) == one[(40 * V)...].map(\.bitPattern), "token by token")
        // A tree of two children below slot 59, the second committed: the cache then holds what decoding it gives.
        two.truncate(to: 60)
        _ = try two.forward([prompt[60], prompt[61]], parents: [59, 59])
        try two.commit(path: [61], from: 60)
        let afterTree = try two.forward([prompt[62]]).logits
        two.truncate(to: 60)
        let straight = try two.forward([prompt[61], prompt[62]]).logits
        #expect(afterTree.map(\.bitPattern) == Array(straight[V...]).map(\.bitPattern), "committed tree path")
    }

    @Test func closeToTheFloatCacheAtHalfTheBytes() throws {
        let weights = try ModelWeights(checkpoint: Checkpoint(path: Fixtures.trainedModel))
        let ids = try ReferenceOutputs(Fixtures.trainedModel + "/reference.safetensors").inputIds
        let prompt = (0..<96).map { ids[($0 * 7) % ids.count] }
        let V = weights.architecture.vocabSize
        let float = try Engine(weights: weights, options: EngineOptions(threads: 2))
        let bf16 = try Engine(weights: weights, options: Self.options(threads: 2))
        let a = try float.forward(prompt).logits, b = try bf16.forward(prompt).logits
        #expect(bf16.kvBytesPerSlot * 2 == float.kvBytesPerSlot)
        #expect(bf16.kvCacheBytes * 2 <= float.kvCacheBytes + 4096 && bf16.kvCacheBytes > 0)
        // The first token attends only to itself (softmax weight 1), so only later tokens can differ.
        var kl = 0.0, agree = 0, differing = 0
        for t in 0..<prompt.count {
            let p = Array(a[(t * V)..<((t + 1) * V)]), q = Array(b[(t * V)..<((t + 1) * V)])
            if p.map(\.bitPattern) != q.map(\.bitPattern) { differing += 1 }
            func logSoftmax(_ x: [Float]) -> [Double] {
                let m = Double(x.max()!), s = x.reduce(0.0) { $0 + exp(Double($1) - m) }
                return x.map { Double($0) - m - log(s) }
            }
            let lp = logSoftmax(p), lq = logSoftmax(q)
            kl += zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
            if p.indices.max(by: { p[$0] < p[$1] }) == q.indices.max(by: { q[$0] < q[$1] }) { agree += 1 }
        }
        kl /= Double(prompt.count)
        #expect(differing > prompt.count / 2, "rounding the cache changed only \(differing) tokens' logits")
        #expect(kl < 1e-3 && kl > 0, "mean KL \(kl)")
        #expect(agree >= prompt.count * 95 / 100, "top-1 agreement \(agree) of \(prompt.count)")
        print("bf16 KV cache, trained model, 96 tokens: mean KL from float32 \(kl), top-1 \(agree)/\(prompt.count)")
    }

    @Test func rowsRoundWhenCachedAndKeepEachHeadsPartTogether() {
        // Two parts of 3 and 4 numbers a slot; three slots appended at once.
        let rows = KVRows(.bf16, widths: [3, 4])
        let values: [Float] = (0..<21).map { i in [1, 1.00390625, 1.0078125, -3.14159, .infinity, 1e-40, 65504.5][i % 7] * Float(1 + i / 7) }
        rows.append(values)
        #expect(rows.slots == 3 && rows.capacityBytes >= 2 * 21)
        for s in 0..<3 {
            for j in 0..<7 {
                let v = values[s * 7 + j], (p, k) = j < 3 ? (0, j) : (1, j - 3)
                #expect(rows.number(part: p, slot: s, k).bitPattern == ScalarConversion.bf16ToFloat(ScalarConversion.floatToBF16(v)).bitPattern)
            }
        }
        #expect(rows.number(part: 0, slot: 0, 1) == 1)          // 1 + 2^-8 lies halfway: ties to even
        #expect(rows.number(part: 0, slot: 0, 2) == 1.0078125)  // 1 + 2^-7 is a bf16
        // A part's slots lie one after another: part 1 of slot 1 starts 4 numbers after part 1 of slot 0.
        let bases = rows.bases
        #expect(bases[1].load(fromByteOffset: 4 * 2, as: UInt16.self) == ScalarConversion.floatToBF16(values[7 + 3]))
        rows.copy(slot: 2, to: 0)
        #expect((0..<4).allSatisfy { rows.number(part: 1, slot: 0, $0) == rows.number(part: 1, slot: 2, $0) })
        rows.keep(slots: 1)
        #expect(rows.slots == 1)
        // Growing past the first capacity keeps every slot.
        let exact = KVRows(.float32, widths: [5])
        let many = (0..<(5 * 40)).map { Float($0) * 0.5 }
        exact.append(many)
        #expect(exact.slots == 40 && (0..<40).allSatisfy { s in (0..<5).allSatisfy { exact.number(part: 0, slot: s, $0) == many[s * 5 + $0] } })
    }
}
