import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNSafetensors
import BFFNSpeculative
import BFFNTestSupport
import Testing

/// The trained model, its EAGLE head and the PyTorch reference of the head's draft steps
/// (scripts/train/train_eagle.py).
struct EagleFixture {
    let engine: Engine
    let head: EagleHead
    let reference: SafetensorsFile

    init() throws {
        engine = try Engine(checkpointPath: Fixtures.trainedModel, options: EngineOptions(threads: 2))
        head = try EagleHead(checkpoint: Checkpoint(path: Fixtures.trainedEagle))
        reference = try SafetensorsFile(path: Fixtures.trainedEagle + "/reference.safetensors")
    }

    func ints(_ name: String) throws -> [Int] { reference.int64Values(of: try #require(reference.entry(named: name), "\(name)")) }
    func floats(_ name: String) throws -> [Float] { reference.float32Values(of: try #require(reference.entry(named: name), "\(name)")) }

    func vocabulary(_ name: String) throws -> DraftVocabulary {
        name == "full" ? .identity(8000)
            : try DraftVocabulary.load(pickle: Fixtures.trainedEagle + "/freq_2048.pkl", size: 2048, targetVocabulary: 8000)
    }
}

@Suite("EAGLE draft heads")
struct EagleDrafterTests {
    @Test func loadsThePublishedLayout() throws {
        let f = try EagleFixture()
        #expect(f.head.config == EagleConfig(hiddenSize: 320, layers: 1, heads: 5, kvHeads: 5, headDim: 64, intermediateSize: 1024, ropeTheta: 10000,
                                             maxPositionEmbeddings: 512))
        #expect(f.head.parameterCount == 1_599_040) // the training script's count
        #expect(EagleHead.recognizes(try Checkpoint(path: Fixtures.trainedEagle)))
        #expect(!EagleHead.recognizes(try Checkpoint(path: Fixtures.trainedModel)))
    }

    @Test func readsTheFrequencyPickle() throws {
        let v = try DraftVocabulary.load(pickle: Fixtures.trainedEagle + "/freq_2048.pkl", size: 2048, targetVocabulary: 8000)
        // The first ids as Python's pickle.load gives them.
        #expect(Array(v.ids!.prefix(10)) == [13, 7923, 7930, 7925, 7938, 260, 277, 261, 259, 7934])
        #expect(throws: BFFNError.self) { try DraftVocabulary.load(pickle: Fixtures.trainedEagle + "/freq_2048.pkl", size: 4096, targetVocabulary: 8000) }
        #expect(throws: BFFNError.self) { try DraftVocabulary.load(pickle: Fixtures.trainedEagle + "/freq_2048.pkl", size: 2048, targetVocabulary: 1000) }
    }

    /// Two consecutive draft steps per prompt, driven as the speculative decoder drives them (prompt pass, draft,
    /// one tree-masked verification, commit of the accepted path, draft again), against the reference's root
    /// log-probabilities, trees and accepted lengths.
    @Test(arguments: ["full", "v2048"])
    func reproducesThePyTorchDraftSteps(_ vocabularyName: String) throws {
        let f = try EagleFixture()
        let drafter = try EagleDrafter(head: f.head, vocabulary: try f.vocabulary(vocabularyName), target: f.engine.weights, threads: 2)
        let engine = f.engine
        engine.options.captureFeatures = true
        let shape = try DraftShape.tree(width: 10, depth: 3, maxNodes: 31)
        var worst: Float = 0
        for b in 0..<3 {
            let key = "p\(b)_\(vocabularyName)"
            let seq1 = try f.ints(key + "_s1_input_ids")
            engine.reset()
            drafter.reset()
            let prompt = Array(seq1.dropLast())
            let first = try engine.forward(prompt, logits: .last)
            #expect(first.argmax(at: prompt.count - 1) == seq1.last!, "the root is the target's greedy token")
            try drafter.observe(features: first.features, nextTokens: Array(prompt.dropFirst()) + [seq1.last!])
            var root = seq1.last!
            for step in 1...2 {
                let s = "\(key)_s\(step)"
                let tree = try drafter.draft(context: [], shape: shape)
                let expected = try f.floats(s + "_depth1_logprobs")
                #expect(drafter.lastRootLogProbabilities.count == expected.count)
                for (a, e) in zip(drafter.lastRootLogProbabilities, expected) { worst = max(worst, abs(a - e)) }
                #expect(tree.tokens == (try f.ints(s + "_tree_tokens")), "\(s) tokens")
                #expect(tree.parents == (try f.ints(s + "_tree_parents")), "\(s) parents")
                // Verify the tree with the target and commit the accepted path, as the decoder does.
                let start = engine.length
                let out = try engine.forward([root] + tree.tokens, parents: [start - 1] + tree.parents.map { start + 1 + $0 })
                var path = [0], next: [Int] = [], node = -1
                while let match = tree.children(of: node).first(where: { tree.tokens[$0] == out.argmax(at: path.last!) }) {
                    next.append(tree.tokens[match])
                    path.append(match + 1)
                    node = match
                }
                next.append(out.argmax(at: path.last!))
                #expect(path.count - 1 == (try f.ints(s + "_accepted"))[0], "\(s) accepted length")
                try engine.commit(path: path.map { start + $0 }, from: start)
                var features: [Float] = []
                for row in path { features += out.feature(at: row) }
                try drafter.observe(features: features, nextTokens: next)
                root = next.last!
                if step == 1 { #expect(try f.ints("\(key)_s2_input_ids") == seq1 + next, "the second step's text") }
            }
        }
        #expect(worst < 1e-4, "root log-probabilities within 1e-4 of PyTorch's (worst \(worst))")
        print("EAGLE \(vocabularyName): worst root log-probability error \(worst)")
    }
}

@Suite("EAGLE drafting is lossless and its inputs are checked")
struct EagleDrafterLosslessTests {
    /// Every fixture with a random head of its width (2 layers, GQA 2/1 heads): greedy speculative decoding with
    /// the published tree equals plain greedy decoding, fixed and adaptive.
    @Test(arguments: Fixtures.allModels)
    func speculativeEqualsGreedyOnEveryFixture(_ folder: String) throws {
        let engine = try Engine(checkpointPath: folder, options: EngineOptions(threads: 2))
        let a = engine.weights.architecture
        let dir = TemporaryDirectory()
        try EagleHeadFiles.writeRandom(dir, .init(hidden: a.hiddenSize))
        let head = try EagleHead(checkpoint: Checkpoint(path: dir.path))
        let drafter = try EagleDrafter(head: head, vocabulary: .identity(a.vocabSize), target: engine.weights, threads: 2)
        let shape = try DraftShape.tree(width: 10, depth: 3, maxNodes: 31)
        let prompt = repetitivePrompt(vocabulary: a.vocabSize)
        let plain = try plainGreedy(engine, prompt, 24)
        let fixed = try SpeculativeDecoder.generate(engine, drafter: drafter, shape: shape, prompt: prompt, maxNewTokens: 24)
        #expect(fixed.generatedIds == plain)
        #expect(fixed.draftedTokens == 31 * fixed.steps, "every step verified a whole tree")
        let adaptive = try SpeculativeDecoder.generate(engine, drafter: drafter, shape: shape, prompt: prompt,
                                                       options: GenerationOptions(maxNewTokens: 24), adaptive: AdaptiveDrafting(shape: shape))
        #expect(adaptive.generatedIds == plain)
    }

    /// The trained model with its trained head, on the reference prompts: identical to greedy, accepting drafts.
    @Test func theTrainedHeadIsLosslessAndAccepts() throws {
        let f = try EagleFixture()
        let drafter = try EagleDrafter(head: f.head, vocabulary: .identity(8000), target: f.engine.weights, threads: 2)
        let shape = try DraftShape.tree(width: 10, depth: 3, maxNodes: 31)
        var steps = 0, emitted = 0
        for b in 0..<3 {
            let prompt = Array(try f.ints("p\(b)_full_s1_input_ids").dropLast())
            let plain = try plainGreedy(f.engine, prompt, 32)
            let s = try SpeculativeDecoder.generate(f.engine, drafter: drafter, shape: shape, prompt: prompt, maxNewTokens: 32)
            #expect(s.generatedIds == plain)
            steps += s.steps
            emitted += s.acceptedTokens + s.steps
            #expect(s.fullTreeSparsity != nil && s.fullTreeCalls == s.steps)
        }
        #expect(Double(emitted) / Double(steps) > 2, "the trained head is accepted (mean \(Double(emitted) / Double(steps)) tokens per step)")
    }

    /// The same head stored as pytorch_model.bin drafts the same trees.
    @Test func aPyTorchBinHeadDraftsTheSame() throws {
        let f = try EagleFixture()
        let dir = TemporaryDirectory()
        let bin = try EagleHead(checkpoint: Checkpoint(path: EagleHeadFiles.copyTrainedAsBin(dir)))
        #expect(bin.config == f.head.config)
        let shape = try DraftShape.tree(width: 10, depth: 3, maxNodes: 31)
        let prompt = Array(try f.ints("p1_full_s1_input_ids").dropLast())
        var trees: [DraftTree] = []
        for head in [f.head, bin] {
            let drafter = try EagleDrafter(head: head, vocabulary: .identity(8000), target: f.engine.weights, threads: 1)
            f.engine.reset()
            f.engine.options.captureFeatures = true
            let out = try f.engine.forward(prompt, logits: .last)
            try drafter.observe(features: out.features, nextTokens: Array(prompt.dropFirst()) + [out.argmax(at: prompt.count - 1)])
            trees.append(try drafter.draft(context: [], shape: shape))
        }
        #expect(trees[0] == trees[1] && trees[0].count == 31)
    }

    @Test func mismatchesAreErrorsNamingTheTensorOrKey() throws {
        func error(_ body: () throws -> Void) -> BFFNError? {
            do { try body(); return nil } catch let e as BFFNError { return e } catch { return nil }
        }
        // A head of another width than the target.
        let target = try Engine(checkpointPath: Fixtures.trainedModel)
        let narrow = TemporaryDirectory()
        try EagleHeadFiles.writeRandom(narrow, .init(hidden: 64))
        let e1 = error { _ = try EagleDrafter(head: EagleHead(checkpoint: Checkpoint(path: narrow.path)), vocabulary: .identity(8000), target: target.weights) }
        #expect(e1?.code == .shapeMismatch && e1?.location.field == "fc.weight")
        // config.json without head_dim (the published loader requires it).
        let noHeadDim = TemporaryDirectory()
        try EagleHeadFiles.writeRandom(noHeadDim, .init(hidden: 64), configDropping: "head_dim")
        let e2 = error { _ = try EagleHead(checkpoint: Checkpoint(path: noHeadDim.path)) }
        #expect(e2?.code == .invalidConfig && e2?.location.field == "head_dim")
        // A tensor the published layout does not have.
        let extra = TemporaryDirectory()
        let stray = SafetensorsWriter.Tensor(name: "lm_head.weight", dtype: .f32, shape: [2], bytes: [UInt8](repeating: 0, count: 8))
        try EagleHeadFiles.writeRandom(extra, .init(hidden: 64), extra: [stray])
        let e3 = error { _ = try EagleHead(checkpoint: Checkpoint(path: extra.path)) }
        #expect(e3?.code == .unsupported && e3?.location.field == "lm_head.weight")
        // A projection of the wrong shape: config says 2 heads of 8, the tensor has 3.
        let wrong = TemporaryDirectory()
        try EagleHeadFiles.writeRandom(wrong, .init(hidden: 64))
        _ = try wrong.write("config.json", text: EagleHeadFiles.config(.init(hidden: 64, heads: 3, kvHeads: 1)))
        let e4 = error { _ = try EagleHead(checkpoint: Checkpoint(path: wrong.path)) }
        #expect(e4?.code == .shapeMismatch && e4?.location.field == "layers.0.self_attn.q_proj.weight")
        // A draft vocabulary naming a token twice.
        let e5 = error { _ = try DraftVocabulary(ids: [3, 4, 3], size: 3, targetVocabulary: 10) }
        #expect(e5?.code == .malformed)
    }
}

@Suite("EAGLE under sampling")
struct EagleSamplingTests {
    /// Sampling with an EAGLE drafter: the same seed gives the same text, every step keeps the tree's invariants,
    /// and drafts are accepted (the rule itself is drafter-independent and chi-square tested in
    /// SpeculativeSamplingTests).
    @Test func sameSeedSameTextAndDraftsAccepted() throws {
        let f = try EagleFixture()
        let drafter = try EagleDrafter(head: f.head, vocabulary: .identity(8000), target: f.engine.weights, threads: 2)
        let prompt = Array(try f.ints("p0_full_s1_input_ids").dropLast())
        let options = GenerationOptions(maxNewTokens: 40, sampling: SamplingOptions(temperature: 0.7, topK: 20, topP: 0.95, seed: 11))
        let shape = try DraftShape.tree(width: 10, depth: 3)
        let a = try SpeculativeDecoder.generate(f.engine, drafter: drafter, shape: shape, prompt: prompt, options: options)
        let b = try SpeculativeDecoder.generate(f.engine, drafter: drafter, shape: shape, prompt: prompt, options: options)
        #expect(a.generatedIds == b.generatedIds && a.generatedIds.count == 40)
        #expect(a.generatedIds.allSatisfy { $0 >= 0 && $0 < 8000 })
        #expect(a.acceptedTokens > 0 && a.meanAcceptLength > 1.3, "drafts are accepted under sampling (\(a.meanAcceptLength))")
    }
}
