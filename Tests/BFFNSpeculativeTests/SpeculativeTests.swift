import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack
import BFFNSpeculative
import BFFNTestSupport
import Testing

/// A drafter that knows the target's greedy continuation and proposes it right for the first `correct(step)`
/// tokens of each step and wrong after that, with a wrong sibling beside every right node when `siblings`.
final class OracleDrafter: Drafter {
    let name = "oracle"
    let sequence: [Int]
    let vocabulary: Int
    let correct: (Int) -> Int
    let siblings: Bool
    var step = 0

    init(sequence: [Int], vocabulary: Int, siblings: Bool = false, correct: @escaping (Int) -> Int) {
        self.sequence = sequence
        self.vocabulary = vocabulary
        self.siblings = siblings
        self.correct = correct
    }

    func reset() { step = 0 }

    func draft(context: [Int], shape: DraftShape) throws -> DraftTree {
        #expect(Array(sequence.prefix(context.count)) == context, "the drafter sees the greedy context")
        let right = correct(step)
        step += 1
        var tree = DraftTree()
        var parent = -1
        for k in 0..<shape.depth where tree.count < shape.maxNodes {
            let i = context.count + k
            let truth = i < sequence.count ? sequence[i] : 0
            let wrong = (truth + 1 + k) % vocabulary
            if siblings && tree.count < shape.maxNodes - 1 { tree.add(wrong == truth ? (truth + 2) % vocabulary : wrong, parent: parent) }
            parent = tree.add(k < right ? truth : wrong, parent: parent)
        }
        return tree
    }
}

/// Plain greedy ids with the engine (reference for every speculative run).
func plainGreedy(_ engine: Engine, _ prompt: [Int], _ n: Int) throws -> [Int] {
    try GreedyDecoder.generate(engine, prompt: prompt, maxNewTokens: n).generatedIds
}

/// A prompt of `count` ids that repeats a short pattern, so prompt lookup finds matches.
func repetitivePrompt(vocabulary: Int, count: Int = 20) -> [Int] {
    (0..<count).map { [3, 7, 11, 5, 3, 7][$0 % 6] % vocabulary }
}

@Suite("speculative decoding is lossless")
struct SpeculativeTests {
    @Test(arguments: Fixtures.allModels)
    func treeCallsEqualTokenByTokenDecoding(_ folder: String) throws {
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let V = engine.weights.architecture.vocabSize
        let prompt = (0..<9).map { ($0 * 7 + 3) % V }
        _ = try engine.forward(prompt)
        // A tree below the prompt: root r, children a b, a's children c d, d's child e.
        let tokens = [1, 2, 3, 4, 5, 6].map { ($0 * 13) % V }
        let parents = [8, 9, 9, 10, 10, 13]
        let tree = try engine.forward(tokens, parents: parents)
        for node in 0..<tokens.count {
            var path: [Int] = []
            var n = node
            while n >= 0 { path.insert(tokens[n], at: 0); n = parents[n] - 9 }
            engine.truncate(to: 6)
            let single = try engine.forward(Array(prompt[6...]) + path)
            let a = tree.logits(at: node).map(\.bitPattern), b = single.logits(at: single.logits.count / V - 1).map(\.bitPattern)
            #expect(a == b, "node \(node) of the tree differs from decoding its path")
        }
        // Committing the path r, b, e leaves the cache as if r, b, e had been decoded.
        engine.truncate(to: 9)
        _ = try engine.forward(tokens, parents: parents)
        try engine.commit(path: [9, 10, 13, 14], from: 9)
        #expect(engine.length == 13)
        let next = try engine.forward([4 % V])
        engine.truncate(to: 6)
        let straight = try engine.forward(Array(prompt[6...]) + [tokens[0], tokens[1], tokens[4], tokens[5], 4 % V])
        #expect(next.logits(at: 0).map(\.bitPattern) == straight.logits(at: 7).map(\.bitPattern))
        #expect(throws: BFFNError.self) { try engine.commit(path: [11, 14], from: 9) }
    }

    @Test(arguments: Fixtures.allModels)
    func oracleDraftsAcceptedRejectedAndMixedGiveGreedyOutput(_ folder: String) throws {
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let V = engine.weights.architecture.vocabSize
        let prompt = (0..<12).map { ($0 * 5 + 1) % V }
        let n = 20
        let expected = try plainGreedy(engine, prompt, n)
        let sequence = prompt + expected
        for (shape, siblings) in [(try DraftShape.chain(4), false), (try DraftShape.tree(width: 2, depth: 5), true)] {
            let all = try SpeculativeDecoder.generate(engine, drafter: OracleDrafter(sequence: sequence, vocabulary: V, siblings: siblings) { _ in 99 },
                                                      shape: shape, prompt: prompt, maxNewTokens: n)
            #expect(all.generatedIds == expected)
            #expect(all.steps == (n - 1 + shape.depth) / (shape.depth + 1), "every draft accepted: \(all.steps) steps")
            let none = try SpeculativeDecoder.generate(engine, drafter: OracleDrafter(sequence: sequence, vocabulary: V, siblings: siblings) { _ in 0 },
                                                       shape: shape, prompt: prompt, maxNewTokens: n)
            #expect(none.generatedIds == expected)
            #expect(none.acceptedTokens == 0 && none.meanAcceptLength == 1, "every draft rejected")
            let mixed = try SpeculativeDecoder.generate(engine, drafter: OracleDrafter(sequence: sequence, vocabulary: V, siblings: siblings) { $0 % 4 },
                                                        shape: shape, prompt: prompt, maxNewTokens: n)
            #expect(mixed.generatedIds == expected)
            #expect(mixed.acceptedTokens > 0 && mixed.meanAcceptLength < all.meanAcceptLength)
        }
    }

    @Test(arguments: Fixtures.allModels)
    func ngramAndDraftModelGiveGreedyOutput(_ folder: String) throws {
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let V = engine.weights.architecture.vocabSize
        let selfDraft = try ModelDrafter(engine: Engine(checkpointPath: folder), vocabularySize: V, name: "self")
        for prompt in [repetitivePrompt(vocabulary: V), (0..<10).map { ($0 * 11 + 2) % V }] {
            let expected = try plainGreedy(engine, prompt, 24)
            for shape in [try DraftShape.chain(5), try DraftShape.tree(width: 3, depth: 4)] {
                let ngram = try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: shape, prompt: prompt, maxNewTokens: 24)
                #expect(ngram.generatedIds == expected, "ngram \(shape)")
                let drafted = try SpeculativeDecoder.generate(engine, drafter: selfDraft, shape: shape, prompt: prompt, maxNewTokens: 24)
                #expect(drafted.generatedIds == expected, "self draft \(shape)")
                // The model drafting for itself is always right (its greedy path is in every tree).
                #expect(drafted.acceptedTokens + drafted.steps >= 23, "self draft accepted \(drafted.acceptedTokens) in \(drafted.steps) steps")
            }
        }
    }

    @Test func quantizedPackDraftsForItsSource() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockReference
        var options = ConvertOptions()
        options.quant = .q4(group: 16, asymmetric: false)
        _ = try PackWriter.convert(source: folder, to: dir.file("q4.bfpk"), options: options)
        let target = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let V = target.weights.architecture.vocabSize
        let drafter = try ModelDrafter(engine: Engine(weights: ModelWeights.open(path: dir.file("q4.bfpk"))), vocabularySize: V, name: "q4")
        let prompt = (0..<16).map { ($0 * 3 + 4) % V }
        let expected = try plainGreedy(target, prompt, 32)
        for shape in [try DraftShape.chain(6), try DraftShape.tree(width: 2, depth: 4)] {
            let r = try SpeculativeDecoder.generate(target, drafter: drafter, shape: shape, prompt: prompt, maxNewTokens: 32)
            #expect(r.generatedIds == expected)
            #expect(r.meanAcceptLength > 1)
        }
    }

    @Test func ngramDrafterProposesWhatFollowedEarlierOccurrences() throws {
        let drafter = NGramDrafter()
        let chain = try drafter.draft(context: [1, 2, 3, 4, 9, 1, 2, 3, 5, 8, 1, 2, 3], shape: .chain(3))
        // Both earlier "1 2 3" continue differently; equal counts go to the most recent (5 8 1).
        #expect(chain.tokens == [5, 8, 1])
        let tree = try drafter.draft(context: [1, 2, 3, 4, 9, 1, 2, 3, 5, 8, 1, 2, 3], shape: .tree(width: 2, depth: 2))
        #expect(tree.tokens == [5, 4, 8, 9])
        #expect(tree.parents == [-1, -1, 0, 1])
        #expect(try drafter.draft(context: [1, 2, 3], shape: .chain(4)).count == 0)
        #expect(throws: BFFNError.self) { try DraftShape.parseTree("4by3") }
        #expect(throws: BFFNError.self) { try DraftShape.chain(33) }
    }

    @Test func draftModelWithAnotherVocabularyIsRefused() throws {
        let target = try Engine(checkpointPath: Fixtures.blockReference)
        let other = try Engine(checkpointPath: Fixtures.blockLinearReference)
        #expect(target.weights.architecture.vocabSize != other.weights.architecture.vocabSize)
        #expect(throws: BFFNError.self) { try ModelDrafter(engine: other, vocabularySize: target.weights.architecture.vocabSize, name: "x") }
    }
}
