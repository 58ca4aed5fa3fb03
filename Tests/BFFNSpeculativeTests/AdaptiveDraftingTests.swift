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
