import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import Testing

@Suite("adaptive drafting")
struct AdaptiveDraftingTests {
    /// Feeds the controller what a step would measure: a plain step 1 ms, each verified node `perNode` ms, the
    /// drafter `draft` ms, and `accepted(nodes)` drafts accepted; returns the budgets it chose.
    static func run(maxNodes: Int, perNode: Double, draft: Double, steps: Int, accepted: (Int) -> Int) -> [Int] {
        let c = AdaptiveDrafting(maxNodes: maxNodes)
        var budgets: [Int] = []
        for _ in 0..<steps {
            let n = c.nextBudget()
            budgets.append(n)
            c.record(nodes: n, accepted: n == 0 ? 0 : accepted(n), callSeconds: 1e-3 + perNode * 1e-3 * Double(n), draftSeconds: n == 0 ? 0 : draft * 1e-3)
        }
        return budgets
    }

    @Test func draftsWhenItPaysAndStopsWhenItCannot() {
        // Cheap nodes, every draft accepted: it drafts, and in full.
        let good = Self.run(maxNodes: 8, perNode: 0.05, draft: 0.2, steps: 100) { $0 }
        #expect(good.suffix(50).filter { $0 == 8 }.count > 40, "\(good)")
        // A drafter as slow as the target (a same-size draft model): even perfect acceptance cannot pay.
        let slow = Self.run(maxNodes: 4, perNode: 0.3, draft: 4.0, steps: 200) { $0 }
        #expect(slow.suffix(190).allSatisfy { $0 == 0 }, "\(slow.prefix(20))")
        // Cheap but never accepted: plain steps, with rare probes (backing off).
        let useless = Self.run(maxNodes: 8, perNode: 0.2, draft: 0.1, steps: 600) { _ in 0 }
        let probes = useless.suffix(590).filter { $0 > 0 }.count
        #expect(probes > 0 && probes <= 6, "\(probes) probes")
    }

    /// A recorded cost profile: seconds of a verification call with m nodes (0: a plain step), seconds of drafting
    /// per draft level, and the drafts accepted from m nodes.
    struct CostProfile {
        var call: (Int) -> Double
        var draftPerLevel: Double
        var accepted: (Int) -> Int

        /// Tokens per second of a fixed budget m, relative to plain decoding.
        func speedup(fixed m: Int) -> Double {
            (Double(1 + (m == 0 ? 0 : accepted(m))) / (call(m) + draftPerLevel * Double(m))) * call(0)
        }

        /// Tokens per second of the controller over `steps` steps, relative to plain decoding, and its budgets.
        func speedup(adaptive maxNodes: Int, steps: Int) -> (speedup: Double, budgets: [Int]) {
            let c = AdaptiveDrafting(maxNodes: maxNodes)
            var seconds = 0.0, tokens = 0, budgets: [Int] = []
            for _ in 0..<steps {
                let m = c.nextBudget()
                let a = m == 0 ? 0 : accepted(m), drafting = draftPerLevel * Double(m)
                c.record(nodes: m, accepted: a, callSeconds: call(m), draftSeconds: drafting)
                seconds += call(m) + drafting
                tokens += 1 + a
                budgets.append(m)
            }
            return (Double(tokens) / seconds * call(0), budgets)
        }
    }

    /// The profiles the controller must handle: a large target whose multi-token calls cost far more than linearly
    /// and a draft model whose cost grows with every level it drafts (synth XLarge with its own q4 pack); a drafter
    /// as slow as the target (speculation cannot pay); a cheap drafter (EAGLE on a small model).
    @Test func recordedCostProfiles() {
        let xlarge = CostProfile(call: { m in 1 + 0.25 * Double(m) + 0.02 * Double(m * m) }, draftPerLevel: 0.38, accepted: { min($0, 6) })
        let candidates = [0, 1, 2, 4, 8]
        let bestXL = candidates.map { xlarge.speedup(fixed: $0) }.max()!
        #expect(xlarge.speedup(fixed: 8) < 1)   // drafting in full loses to plain decoding here
        let xl = xlarge.speedup(adaptive: 8, steps: 400)
        #expect(xl.speedup >= 0.95 * bestXL && xl.speedup >= 1.0, "\(xl.speedup) of best \(bestXL): \(xl.budgets.suffix(40))")

        let sameSize = CostProfile(call: { 1 + 0.2 * Double($0) }, draftPerLevel: 1.0, accepted: { $0 })
        let hopeless = sameSize.speedup(adaptive: 8, steps: 400)
        #expect(candidates.dropFirst().allSatisfy { sameSize.speedup(fixed: $0) < 1 })
        #expect(hopeless.speedup >= 0.95, "\(hopeless.speedup): \(hopeless.budgets.prefix(40))")

        let cheap = CostProfile(call: { 1 + 0.05 * Double($0) }, draftPerLevel: 0.05, accepted: { min($0, 4) })
        let bestCheap = candidates.map { cheap.speedup(fixed: $0) }.max()!
        let eagle = cheap.speedup(adaptive: 8, steps: 400)
        #expect(eagle.speedup >= 0.9 * bestCheap && eagle.speedup > 2, "\(eagle.speedup) of best \(bestCheap)")
    }

    /// A draft model must first catch up on the prompt (here 100 positions at 0.4 of a target step each: about 40
    /// plain steps): a 32-token generation cannot repay that and never drafts; a 1000-token one drafts, because the
    /// best size saves more than that over its remaining tokens.
    @Test func aCatchUpTheRestCannotRepayIsRefused() {
        let profile = CostProfile(call: { 1 + 0.1 * Double($0) }, draftPerLevel: 0.05, accepted: { min($0, 6) })
        func run(tokens: Int) -> (speedup: Double, drafted: Int) {
            let c = AdaptiveDrafting(maxNodes: 8)
            var seconds = 0.0, emitted = 0, drafted = 0, pending = 100
            while emitted < tokens {
                let m = c.nextBudget(remainingTokens: tokens - emitted, catchUpSteps: 0.4 * Double(pending))
                let a = m == 0 ? 0 : profile.accepted(m)
                let catchUp = m == 0 ? 0 : 0.4 * Double(pending)
                if m > 0 { pending = 1; drafted += 1 } else { pending += 1 }
                c.record(nodes: m, accepted: a, callSeconds: profile.call(m), draftSeconds: profile.draftPerLevel * Double(m) + catchUp,
                         catchUpSteps: m == 0 ? 0 : catchUp)
                seconds += profile.call(m) + profile.draftPerLevel * Double(m) + catchUp
                emitted += 1 + a
            }
            return (Double(emitted) / seconds * profile.call(0), drafted)
        }
        let short = run(tokens: 32)
        #expect(short.drafted == 0 && short.speedup >= 0.99, "\(short)")
        let long = run(tokens: 1000)
        #expect(long.drafted > 50 && long.speedup > 1.5, "\(long)")
    }

    /// Adaptive drafting never changes the output: greedy speculative equals plain greedy on every fixture.
    @Test(arguments: Fixtures.allModels.filter { !$0.contains("vanilla") })
    func adaptiveStaysLossless(_ folder: String) throws {
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 1))
        let V = engine.weights.architecture.vocabSize
        let prompt = repetitivePrompt(vocabulary: V)
        let expected = try GreedyDecoder.generate(engine, prompt: prompt, maxNewTokens: 40).generatedIds
        let shape = try DraftShape.tree(width: 2, depth: 4)
        let r = try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: shape, prompt: prompt,
                                                options: GenerationOptions(maxNewTokens: 40), adaptive: AdaptiveDrafting(maxNodes: shape.maxNodes))
        #expect(r.generatedIds == expected, "\(folder)")
    }
}
