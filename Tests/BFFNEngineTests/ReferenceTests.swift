import BFFNCore
import BFFNEngine
import BFFNSafetensors
import BFFNTestSupport
import Testing

/// A reference file in the schema of formats/reference.md.
struct ReferenceOutputs {
    var inputIds: [Int]
    var logits: [Float]
    var greedyIds: [Int]
    var routers: [[Float]]

    init(_ path: String) throws {
        let f = try SafetensorsFile(path: path)
        func ints(_ n: String) -> [Int] {
            guard let e = f.entry(named: n) else { return [] }
            return f.file.withBytes { _ in f.bytes(of: e).withMemoryRebound(to: Int64.self) { $0.map { Int($0) } } }
        }
        func floats(_ n: String) -> [Float] {
            guard let e = f.entry(named: n) else { return [] }
            return f.file.withBytes { _ in Array(f.bytes(of: e).withMemoryRebound(to: Float.self) { $0 }) }
        }
        inputIds = ints("input_ids")
        logits = floats("logits")
        greedyIds = ints("greedy_ids")
        var r: [[Float]] = []
        while f.entry(named: "router_l\(r.count)") != nil { r.append(floats("router_l\(r.count)")) }
        routers = r
    }
}

/// Greedy decoding with the engine: prefill, then one token at a time.
func greedy(_ engine: Engine, _ prompt: [Int], _ n: Int) throws -> [Int] {
    engine.reset()
    var out = try engine.forward(prompt)
    var next = out.argmax(at: prompt.count - 1)
    var ids: [Int] = []
    for _ in 0..<n {
        ids.append(next)
        out = try engine.forward([next])
        next = out.argmax(at: 0)
    }
    return ids
}

let engineFixtures = Fixtures.engineModels

@Suite("engine against reference outputs")
struct ReferenceTests {
    /// The two published-code references first, then every numpy-reference fixture.
    @Test(arguments: [Fixtures.blockReference, Fixtures.blockLinearReference] + engineFixtures)
    func logitsRoutersAndGreedyMatch(_ folder: String) throws {
        let ref = try ReferenceOutputs(folder + "/reference.safetensors")
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(captureRouterScores: true))
        let out = try engine.forward(ref.inputIds)
        let V = out.vocabSize
        #expect(out.logits.count == ref.logits.count)
        var maxErr: Float = 0
        for i in 0..<out.logits.count { maxErr = max(maxErr, abs(out.logits[i] - ref.logits[i])) }
        #expect(maxErr < 1e-3, "max logit error \(maxErr)")
        for t in 0..<ref.inputIds.count {
            let refRow = ref.logits[(t * V)..<((t + 1) * V)]
            let refTop = refRow.indices.max { refRow[$0] < refRow[$1] }! - t * V
            #expect(out.argmax(at: t) == refTop, "top-1 at position \(t)")
        }
        #expect(out.routerScores.count == ref.routers.count)
        for (l, r) in ref.routers.enumerated() {
            var err: Float = 0
            for i in 0..<r.count {
                err = max(err, abs(out.routerScores[l][i] - r[i]))
                #expect((out.routerScores[l][i] > 0) == (r[i] > 0), "active set differs in layer \(l) at \(i)")
            }
            #expect(err < 1e-4, "router error \(err) in layer \(l)")
        }
        if !ref.greedyIds.isEmpty {
            #expect(try greedy(engine, ref.inputIds, ref.greedyIds.count) == ref.greedyIds)
        }
    }
}

@Suite("batch invariance and sparse = dense")
struct InvarianceTests {
    /// Every fixture but dynamic RoPE, whose angles depend on the sequence length by definition.
    @Test(arguments: [Fixtures.blockReference, Fixtures.blockLinearReference] + engineFixtures.filter { !$0.contains("dynamic") })
    func aTokensLogitsDoNotDependOnHowItWasBatched(_ folder: String) throws {
        let ref = try ReferenceOutputs(folder + "/reference.safetensors")
        let prompt = ref.inputIds
        let engine = try Engine(checkpointPath: folder)
        let full = try engine.forward(prompt).logits
        // One token at a time after the cache.
        engine.reset()
        var single: [Float] = []
        for t in prompt { single += try engine.forward([t]).logits }
        #expect(single.map(\.bitPattern) == full.map(\.bitPattern))
        // Chunks of 8 and of 5, with 2 threads.
        for (chunk, threads) in [(8, 1), (5, 2), (24, 2)] {
            let e2 = try Engine(checkpointPath: folder, options: EngineOptions(threads: threads))
            var got: [Float] = []
            var i = 0
            while i < prompt.count {
                got += try e2.forward(Array(prompt[i..<min(prompt.count, i + chunk)])).logits
                i += chunk
            }
            #expect(got.map(\.bitPattern) == full.map(\.bitPattern), "chunk \(chunk), threads \(threads)")
        }
        // Rolling the cache back and recomputing gives the same bits.
        engine.truncate(to: 10)
        let again = try engine.forward(Array(prompt[10...])).logits
        #expect(again.map(\.bitPattern) == full[(10 * (full.count / prompt.count))...].map(\.bitPattern))
    }

    @Test(arguments: [Fixtures.blockReference, Fixtures.blockLinearReference] + engineFixtures.filter { !$0.contains("vanilla") })
    func sparseAndDenseExpertsGiveIdenticalLogits(_ folder: String) throws {
        let prompt = try ReferenceOutputs(folder + "/reference.safetensors").inputIds
        let sparse = try Engine(checkpointPath: folder, options: EngineOptions(ffnMode: .sparse))
        let dense = try Engine(checkpointPath: folder, options: EngineOptions(ffnMode: .dense))
        var i = 0
        var fewer = false
        while i < prompt.count {
            let chunk = Array(prompt[i..<min(prompt.count, i + 4)])
            let s = try sparse.forward(chunk), d = try dense.forward(chunk)
            #expect(s.logits.map(\.bitPattern) == d.logits.map(\.bitPattern))
            if zip(s.expertsComputed, d.expertsComputed).contains(where: { $0 < $1 }) { fewer = true }
            i += 4
        }
        #expect(fewer, "the sparse path never skipped an expert")
    }
}

@Suite("long prompts: attention split over threads, last-token logits")
struct LongPromptTests {
    /// A 96-token prompt from the reference prompt's ids, long enough that the attention of a call is split
    /// over the pool (every fixture but dynamic RoPE, which is defined for 16 positions).
    static func prompt(_ folder: String) throws -> [Int] {
        let ids = try ReferenceOutputs(folder + "/reference.safetensors").inputIds
        return (0..<96).map { ids[($0 * 7) % ids.count] }
    }

    @Test(arguments: [Fixtures.blockReference, Fixtures.blockLinearReference] + engineFixtures.filter { !$0.contains("dynamic") })
    func aLongPromptGivesTheSameBitsOnOneOrTwoThreadsAndTokenByToken(_ folder: String) throws {
        let prompt = try Self.prompt(folder)
        let one = try Engine(checkpointPath: folder, options: EngineOptions(threads: 1)).forward(prompt).logits
        let two = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        #expect(try two.forward(prompt).logits.map(\.bitPattern) == one.map(\.bitPattern))
        // Token by token after a 40-token prefix: attention over the cache, one token per call.
        two.truncate(to: 40)
        var tail: [Float] = []
        for t in prompt[40...] { tail += try two.forward([t]).logits }
        let V = two.weights.architecture.vocabSize
        #expect(tail.map(\.bitPattern) == one[(40 * V)...].map(\.bitPattern))
    }

    @Test(arguments: [Fixtures.blockReference, Fixtures.blockLinearReference] + engineFixtures.filter { !$0.contains("dynamic") })
    func lastTokenLogitsAreTheLastRowOfEveryTokensLogits(_ folder: String) throws {
        let prompt = try Self.prompt(folder)
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let all = try engine.forward(prompt)
        engine.reset()
        let last = try engine.forward(prompt, logits: .last)
        let V = engine.weights.architecture.vocabSize
        #expect(last.firstLogitRow == prompt.count - 1 && last.logits.count == V)
        #expect(last.logits(at: prompt.count - 1).map(\.bitPattern) == all.logits(at: prompt.count - 1).map(\.bitPattern))
        #expect(last.argmax(at: prompt.count - 1) == all.argmax(at: prompt.count - 1))
        #expect(last.expertsComputed == all.expertsComputed)
        // The cache is the same either way: the next token's logits agree.
        let next = try engine.forward([prompt[3]]).logits
        engine.reset()
        _ = try engine.forward(prompt)
        #expect(try engine.forward([prompt[3]]).logits.map(\.bitPattern) == next.map(\.bitPattern))
    }
}
