import BFFNCore
import BFFNDeploy
import BFFNEngine
import BFFNModel
import BFFNTestSupport
import Testing

/// A trace of one layer whose tokens activate the given experts (score 1).
func handTrace(experts E: Int, _ active: [[Int]], layers L: Int = 1) -> RoutingTrace {
    var scores = [[Float]](repeating: [Float](repeating: 0, count: active.count * E), count: L)
    for l in 0..<L { for (t, set) in active.enumerated() { for e in set { scores[l][t * E + e] = 1 } } }
    return RoutingTrace(layers: L, experts: E, expertBytes: 100, tokens: Array(0..<active.count), sequenceStarts: [0], scores: scores, model: "hand")
}

@Suite("expert cache simulation")
struct ExpertCacheSimulatorTests {
    /// A cyclic A B C A B C stream through two slots, worked by hand: LRU always misses; Belady keeps the block
    /// used soonest and hits twice; LFU evicts by count, then by age.
    @Test func handWorkedCycle() {
        let trace = handTrace(experts: 3, [[0], [1], [2], [0], [1], [2]])
        let lru = ExpertCacheSimulator.simulate(trace, capacity: 2, policy: .lru)
        #expect(lru.accesses == 6 && lru.hits == 0 && lru.bytesRead == 600 && lru.bytesPerToken == 100)
        let opt = ExpertCacheSimulator.simulate(trace, capacity: 2, policy: .belady)
        #expect(opt.hits == 2 && opt.bytesRead == 400)
        // LFU: A, B miss; C evicts A (tie on one use, A older); A evicts B; B evicts C (one use against A's two); C evicts B.
        let lfu = ExpertCacheSimulator.simulate(trace, capacity: 2, policy: .lfu)
        #expect(lfu.hits == 0)
        // With room for everything only the first use of each block misses.
        for p in ExpertCacheSimulator.Policy.allCases {
            let all = ExpertCacheSimulator.simulate(trace, capacity: 3, policy: p)
            #expect(all.hits == 3 && all.bytesRead == 300, "\(p)")
        }
        // No cache: every access is a read.
        #expect(ExpertCacheSimulator.simulate(trace, capacity: 0, policy: .lru).bytesRead == 600)
        // bffn trace --simulate --json's row for a policy.
        let row = lru.json
        #expect(row.objectMembers?.map(\.key) == ["policy", "accesses", "hits", "hit_rate", "bytes_read", "bytes_per_token"])
        #expect(row["policy"] == .string("lru") && row["accesses"] == .integer(6) && row["bytes_read"] == .integer(600)
                && row["hit_rate"] == .double(0) && row["bytes_per_token"] == .double(100))
    }

    /// Belady's optimum is a bound: no policy hits more often on random traces.
    @Test func beladyBoundsEveryPolicy() {
        var rng = SplitMix64(seed: 9)
        for round in 0..<20 {
            let E = 6 + rng.below(10), T = 50 + rng.below(100)
            let active = (0..<T).map { _ in (0..<E).filter { _ in rng.unit() < 0.3 } }
            let trace = handTrace(experts: E, active, layers: 1 + rng.below(3))
            let capacity = 1 + rng.below(2 * E)
            let best = ExpertCacheSimulator.simulate(trace, capacity: capacity, policy: .belady).hits
            for p in ExpertCacheSimulator.Policy.allCases where p != .belady {
                let r = ExpertCacheSimulator.simulate(trace, capacity: capacity, policy: p)
                #expect(r.hits <= best, "round \(round): \(p) \(r.hits) > belady \(best)")
            }
        }
    }

    /// Recording: the trace holds the engine's router scores; a written trace reads back the same.
    @Test func recordWriteAndReadBack() throws {
        let dir = TemporaryDirectory()
        let weights = try ModelWeights.open(path: Fixtures.trainedModel)
        let prompts = [[1, 450, 1200, 77, 9, 300, 42, 8, 8, 8], [1, 5, 6, 7]]
        let trace = try RoutingTrace.record(weights: weights, sequences: prompts, threads: 2, model: "trained")
        #expect(trace.tokenCount == 14 && trace.sequenceStarts == [0, 10] && trace.layers == 7 && trace.experts == 32)
        #expect(trace.expertBytes == 2 * 64 * 320 * 2)   // bf16 up [64, 320] and down [320, 64]
        let engine = try Engine(weights: weights, options: EngineOptions(threads: 1))
        let out = try engine.forwardCapturing(prompts[1])
        #expect(Array(trace.scores[3][(10 * 32)...]) == weights.sourceOrdered(out.routerScores)[3])
        let path = dir.file("t.safetensors")
        try trace.write(to: path, overwrite: false)
        let back = try RoutingTrace(path: path)
        #expect(back.tokens == trace.tokens && back.sequenceStarts == trace.sequenceStarts && back.scores == trace.scores && back.expertBytes == trace.expertBytes)
        #expect(throws: BFFNError(.invalidJSON, "")) { _ = try RoutingTrace(path: Fixtures.trainedModel + "/reference.safetensors") }
    }
}
