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

    /// A recorded cost profile, in units of a plain step: a verification call with m nodes (0: a plain step), a
    /// draft level, and a catch-up longer than the recurring one per position; the drafter's acceptance (each draft
    /// token accepted with probability `acceptance` after an accepted parent, drawn from a seeded sequence, so a run
    /// is the same every time); whether the drafter limits its catch-up (`CatchUpLimiting`).
    struct CostProfile {
        var call: (Int) -> Double
        var draftPerLevel: Double
        var catchUpPerPosition = 0.0
        var acceptance: Double
        var limitsCatchUp = true
        var prompt = 64

        /// Tokens per step of a fixed budget m (the expectation), and its speed relative to plain decoding.
        func expectedTokens(_ m: Int) -> Double {
            var tokens = 1.0, chain = 1.0
            for _ in 0..<m { chain *= acceptance; tokens += chain }
            return tokens
        }
        func speedup(fixed m: Int) -> Double { expectedTokens(m) / (call(m) + draftPerLevel * Double(m)) * call(0) }

        /// Runs the controller for `steps` steps of a chain of `maxNodes` as the speculative decoder drives it: the
        /// drafter's pending positions (the prompt first, one more per plain step, none left after a drafted step
        /// but what every step has), capped at `catchUpLimit` when the drafter limits its catch-up.
        func adaptive(maxNodes: Int, steps: Int, seed: UInt64 = 1) -> (speedup: Double, budgets: [Int], controller: AdaptiveDrafting) {
            let c = AdaptiveDrafting(maxNodes: maxNodes)
            var random = seed, seconds = 0.0, tokens = 0, budgets: [Int] = [], pending = prompt
            func uniform() -> Double {
                random = random &* 6364136223846793005 &+ 1442695040888963407
                return Double(random >> 11) / Double(1 << 53)
            }
            for _ in 0..<steps {
                let positions = limitsCatchUp ? min(pending, c.catchUpLimit) : pending
                let m = c.nextBudget(catchUpPositions: positions, relativeCost: draftPerLevel)
                var accepted = 0
                while accepted < m && uniform() < acceptance { accepted += 1 }
                let drafting = m == 0 ? 0 : draftPerLevel * Double(m) + (positions > maxNodes + 1 ? catchUpPerPosition * Double(positions) : 0)
                c.record(nodes: m, accepted: accepted, callSeconds: call(m), draftSeconds: drafting, catchUpPositions: positions)
                seconds += call(m) + drafting
                tokens += 1 + accepted
                budgets.append(m)
                pending = m == 0 ? pending + 1 : 1
            }
            return (Double(tokens) / seconds * call(0), budgets, c)
        }
    }

    /// The profiles the controller must handle, each over 400 steps of chains of 4 (8 for EAGLE's):
    /// - synth XLarge, bf16 target, its q4 pack drafting, measured on this 2-thread AMD EPYC: a 3-token call 1.8x
    ///   a plain step, a draft level 0.64 (the draft model is only 1.6x faster here), a catch-up position 0.12
    ///   (the draft model's prefill), acceptance 0.75: speculation cannot pay;
    /// - the same on an AVX2-only host, where an 8-token call costs 2.6-6.2x a plain step: cannot pay either;
    /// - a host where an 8-token call costs 1.5x a plain step and a draft level 0.3, acceptance 0.85 (the q4
    ///   self-draft on a 16-core Xeon accepts 5.67 of 8): speculation pays, and the controller must find it;
    /// - a drafter as slow as the target: it stops for good;
    /// - EAGLE on a small model: cheap levels and calls, drafts in full.
    @Test func recordedCostProfiles() {
        let chains = [0, 1, 2, 3, 4]
        let xlargeHere = CostProfile(call: { m in 1 + 0.4 * Double(min(m, 2)) + 0.1 * Double(max(0, m - 2)) }, draftPerLevel: 0.64,
                                     catchUpPerPosition: 0.12, acceptance: 0.75)
        #expect(chains.dropFirst().allSatisfy { xlargeHere.speedup(fixed: $0) < 1 })
        let here = xlargeHere.adaptive(maxNodes: 4, steps: 400)
        #expect(here.speedup >= 0.97, "\(here.speedup): \(here.budgets.prefix(40))")
        #expect(here.controller.stopped != nil)

        let avx2 = CostProfile(call: { 1 + 0.45 * Double($0) }, draftPerLevel: 0.45, catchUpPerPosition: 0.1, acceptance: 0.75)
        let a = avx2.adaptive(maxNodes: 4, steps: 400)
        #expect(a.speedup >= 0.95, "\(a.speedup): \(a.budgets.prefix(40))")

        let paying = CostProfile(call: { 1 + 0.06 * Double($0) }, draftPerLevel: 0.3, catchUpPerPosition: 0.05, acceptance: 0.85)
        let bestPaying = chains.map { paying.speedup(fixed: $0) }.max()!
        #expect(bestPaying > 1.3)
        let p = paying.adaptive(maxNodes: 4, steps: 400)
        #expect(p.speedup >= 0.9 * bestPaying && p.speedup > 1.2, "\(p.speedup) of best \(bestPaying): \(p.budgets.suffix(40))")
        #expect(p.controller.stopped == nil)

        let sameSize = CostProfile(call: { 1 + 0.2 * Double($0) }, draftPerLevel: 1.0, catchUpPerPosition: 0.3, acceptance: 1)
        let hopeless = sameSize.adaptive(maxNodes: 4, steps: 400)
        #expect(hopeless.speedup >= 0.95, "\(hopeless.speedup): \(hopeless.budgets.prefix(40))")
        #expect(hopeless.controller.stopped == .cannotPay)

        let cheap = CostProfile(call: { 1 + 0.05 * Double($0) }, draftPerLevel: 0.05, acceptance: 0.8)
        let bestCheap = [0, 1, 2, 4, 8].map { cheap.speedup(fixed: $0) }.max()!
        let eagle = cheap.adaptive(maxNodes: 8, steps: 400)
        #expect(eagle.speedup >= 0.9 * bestCheap && eagle.speedup > 2, "\(eagle.speedup) of best \(bestCheap)")
    }

    /// A drafter that cannot limit its catch-up, whose drafts are never accepted, and whose catch-up costs 0.1 of a
    /// plain step per skipped position: every probe would cost 0.1 x the plain steps before it, more than the 2 %
    /// allowance, so it stops probing instead of losing 10 %.
    @Test func probesWhoseCatchUpGrowsPastTheAllowanceStop() {
        let profile = CostProfile(call: { 1 + 0.1 * Double($0) }, draftPerLevel: 0.05, catchUpPerPosition: 0.1, acceptance: 0,
                                  limitsCatchUp: false, prompt: 8)
        let r = profile.adaptive(maxNodes: 4, steps: 1000)
        #expect(r.controller.stopped == .probesCostTooMuch)
        #expect(r.speedup >= 0.97, "\(r.speedup)")
        #expect(r.budgets.suffix(900).allSatisfy { $0 == 0 })
        // The same drafter limiting its catch-up keeps probing, at intervals that keep the probes under 2 %.
        var limited = profile
        limited.limitsCatchUp = true
        let l = limited.adaptive(maxNodes: 4, steps: 1000)
        #expect(l.controller.stopped == nil && l.budgets.suffix(900).contains { $0 > 0 } && l.speedup >= 0.97, "\(l.speedup)")
    }

    /// One slow call (the first multi-token call's page faults, another process on the core) among the first drafts
    /// must not make drafting look hopeless: estimates are medians of recent samples, not running means.
    @Test func oneOutlierDoesNotStopDrafting() {
        let c = AdaptiveDrafting(maxNodes: 4)
        var drafted = 0, firstDraft = true
        for step in 0..<200 {
            let m = c.nextBudget()
            var call = 1 + 0.1 * Double(m)
            if m > 0 && firstDraft { call *= 3; firstDraft = false }
            c.record(nodes: m, accepted: min(m, 3), callSeconds: call, draftSeconds: 0.05 * Double(m))
            if step >= 100 && m > 0 { drafted += 1 }
        }
        #expect(c.stopped == nil && drafted > 90, "\(drafted) drafted steps of the last 100")
    }

    /// The report says what the controller measured and chose.
    @Test func theReportCarriesTheMeasurementsAndChoices() {
        let profile = CostProfile(call: { 1 + 0.05 * Double($0) }, draftPerLevel: 0.05, acceptance: 0.8)
        let r = profile.adaptive(maxNodes: 4, steps: 100)
        let report = r.controller.report
        #expect(report.budgets.values.reduce(0, +) == 100)
        #expect(report.budgets[0] == r.budgets.filter { $0 == 0 }.count)
        #expect(abs(report.callSeconds[0]! - 1) < 1e-12 && abs(report.draftSecondsPerLevel! - 0.05) < 1e-12)
        #expect(report.expected.map(\.nodes) == [1, 2, 4] && report.expected.allSatisfy { $0.speedup > 1 })
        #expect(report.stopped == nil)
    }

    /// A draft model must first catch up on the prompt (here 100 positions at 0.4 of a target step each: about 40
    /// plain steps) when it cannot limit that: a 32-token generation cannot repay it and never drafts; a 1000-token
    /// one drafts, because the best size saves more than that over its remaining tokens.
    @Test func aCatchUpTheRestCannotRepayIsRefused() {
        func run(tokens: Int) -> (speedup: Double, drafted: Int) {
            let c = AdaptiveDrafting(maxNodes: 8)
            let call = { (m: Int) in 1 + 0.1 * Double(m) }
            var seconds = 0.0, emitted = 0, drafted = 0, pending = 100
            while emitted < tokens {
                let m = c.nextBudget(remainingTokens: tokens - emitted, catchUpPositions: pending, relativeCost: 0.4)
                let a = min(m, 6)
                let catchUp = m == 0 || pending <= 9 ? 0 : 0.4 * Double(pending)
                c.record(nodes: m, accepted: a, callSeconds: call(m), draftSeconds: 0.05 * Double(m) + catchUp, catchUpPositions: pending)
                if m > 0 { pending = 1; drafted += 1 } else { pending += 1 }
                seconds += call(m) + 0.05 * Double(m) + catchUp
                emitted += 1 + a
            }
            return (Double(emitted) / seconds * call(0), drafted)
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
