import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNSpeculative

/// Settings of a verification.
public struct VerifyOptions: Sendable {
    /// Greedy tokens compared per prompt; nil: the reference file's greedy length, or 16 against a model.
    public var maxNewTokens: Int?
    /// Overrides of the default thresholds of the model's quantization class.
    public var maxMeanKLD: Double?
    public var minTop1: Double?
    /// Worker threads for both engines.
    public var threads = WorkerPool.usableCPUs
    /// How the model's activations meet its q8 / q4 weights. The reference always runs with float32 activations,
    /// so `verify X --reference X --activations int8` measures what the integer products change.
    public var activations: ActivationPrecision = .float
    /// How the model's KV cache stores keys and values; the reference's is always float32.
    public var kvCache: KVCachePrecision = .float32
    /// The drafter whose output must equal plain greedy decoding on every prompt.
    public var drafter: DrafterChoice = .ngram
    /// The draft chain or tree.
    public var draftShape: DraftShape = try! .chain(8)
    /// Called with a line of progress per prompt (the CLI shows it on a terminal only).
    public var progress: (@Sendable (String) -> Void)?
    /// Called with (positions compared so far, positions in all) after each prompt, for a progress bar.
    public var positionsDone: (@Sendable (Int, Int) -> Void)?
    /// Token ids of a text to measure perplexity and KL divergence on (against a reference model), its window
    /// length in tokens, and the bos id each window starts with (`TextEvaluation`).
    public var text: [Int]?
    public var textContext = 512
    public var textBos: Int?
    /// Called once with the model's engine before anything runs (e.g. to attach an expert cache for a memory
    /// budget); nil for none.
    public var configureModel: (@Sendable (Engine) throws -> Void)?
    /// Adapt the draft size in the speculative check to the measured costs and acceptance (`AdaptiveDrafting`).
    public var adaptiveDrafting = false
    /// The chunk length of the chunk sparsification loss reported beside the sparsity (8 by default).
    public var objectiveChunkLength = 8

    /// Default options: thresholds of the model's class, prompt lookup with a chain of 8, one thread per CPU.
    public init() {}

    /// Limits the speculative check to calls of at most `tokens` tokens (the draft plus the token it follows):
    /// prompt lookup drafting a chain of up to 8, fewer when `tokens` is smaller (a device's largest chunk).
    /// - Throws: `.usage` when `tokens` is below 2.
    public mutating func useNGramChain(withinChunkOf tokens: Int) throws {
        guard tokens >= 2 else { throw BFFNError(.usage, "a chunk of \(tokens) token(s) leaves no room for a draft", field: "max_chunk_tokens") }
        drafter = .ngram
        draftShape = try .chain(min(8, tokens - 1))
    }

    /// Limits the speculative check to calls of at most `tokens` tokens with the EAGLE head the verified pack
    /// carries: the published dynamic tree (`DraftShape.eagle`: top-10, 3 levels, at most 31 nodes), fewer nodes when
    /// `tokens` is smaller,
    /// always verified whole (no adaptive drafting), so the report's acceptance and CLS_spec are the tree's.
    /// - Throws: `.usage` when `tokens` is below 2.
    public mutating func useCarriedEagleTree(withinChunkOf tokens: Int) throws {
        guard tokens >= 2 else { throw BFFNError(.usage, "a chunk of \(tokens) token(s) leaves no room for a draft", field: "max_chunk_tokens") }
        drafter = .eagle(path: nil, vocabulary: nil)
        let eagle = DraftShape.eagle
        draftShape = try .tree(width: eagle.width, depth: eagle.depth, maxNodes: min(eagle.maxNodes, tokens - 1))
        adaptiveDrafting = false
    }
}

/// `bffn verify`: runs a model and a reference on the same prompts and judges the differences.
public enum Verifier {
    /// The prompts a verification runs: the reference file's, else those given, else `defaultPrompts`.
    public static func prompts(file: ReferenceFile?, given: [[Int]]?, vocabularySize V: Int) -> [[Int]] {
        file.map { $0.prompts.map(\.inputIds) } ?? given ?? defaultPrompts(vocabularySize: V)
    }

    /// Prompts used against a reference model when none are given: two pseudo-random id lists, a repeating
    /// pattern (where prompt lookup drafts well) and a counting run, 32 ids each, all below `vocabularySize`.
    public static func defaultPrompts(vocabularySize V: Int) -> [[Int]] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(V))
        }
        let random1 = (0..<32).map { _ in next() }
        let random2 = (0..<32).map { _ in next() }
        let pattern = (0..<32).map { [5, 9, 2, 14, 7][$0 % 5] % V }
        let counting = (0..<32).map { ($0 * 3 + 1) % V }
        return [random1, random2, pattern, counting]
    }

    /// Verifies the model at `modelPath` against `referencePath` (a reference file or another model).
    /// - Parameter prompts: prompts to run (nil: the reference file's prompt, or `defaultPrompts`; none, with
    ///   `options.text`, scores the text only).
    /// - Throws: `.usage` for prompts given with a reference file, or an empty prompt; `.shapeMismatch` when the
    ///   vocabularies differ; the readers' errors for either file; `.outOfBounds` for a prompt id outside the
    ///   vocabulary. A failed comparison is not an error: it is `passed == false` in the report.
    public static func run(modelPath: String, referencePath: String, prompts givenPrompts: [[Int]]?, options: VerifyOptions) throws -> VerificationReport {
        let modelWeights = try ModelWeights.open(path: modelPath)
        var modelOptions = EngineOptions(threads: options.threads)
        modelOptions.activations = options.activations
        modelOptions.kvCache = options.kvCache
        let model = try Engine(weights: modelWeights, options: modelOptions)
        try options.configureModel?(model)
        let V = modelWeights.architecture.vocabSize
        var report = VerificationReport(model: modelPath, reference: referencePath)

        // The reference: a file of outputs, or a model run here.
        let file: ReferenceFile?
        let referenceEngine: Engine?
        if ReferenceFile.isReference(path: referencePath) {
            let f = try ReferenceFile(path: referencePath)
            guard givenPrompts == nil else {
                throw BFFNError(.usage, "a reference file holds outputs for its own input_ids only; give no prompts with it", file: referencePath, field: "input_ids")
            }
            guard f.vocabularySize == V else {
                throw BFFNError(.shapeMismatch, "the reference has \(f.vocabularySize) logits per position, the model a vocabulary of \(V)", file: referencePath, field: "logits")
            }
            file = f
            referenceEngine = nil
            report.referenceKind = "file"
        } else {
            let w = try ModelWeights.open(path: referencePath)
            guard w.architecture.vocabSize == V else {
                throw BFFNError(.shapeMismatch, "the reference model's vocabulary (\(w.architecture.vocabSize)) differs from the model's (\(V))", file: referencePath, field: "vocab_size")
            }
            file = nil
            var referenceOptions = EngineOptions(threads: options.threads)
            referenceOptions.activations = .float
            referenceEngine = try Engine(weights: w, options: referenceOptions)
            report.referenceKind = "model"
        }
        let prompts = Verifier.prompts(file: file, given: givenPrompts, vocabularySize: V)
        guard !prompts.isEmpty || options.text != nil, prompts.allSatisfy({ !$0.isEmpty }) else { throw BFFNError(.usage, "every prompt needs at least one token id", field: "prompts") }
        var quantization = QuantizationClass.of(modelWeights, reference: referenceEngine?.weights)
        // bf16 products (explicit bf16, or auto where the CPU has fast bf16 products) round the activations of bf16
        // weights, a bf16 KV cache the keys and values it holds: against the same weights that is a cast, not exact.
        if (options.activations.effective(for: .bf16) == .bf16 || options.kvCache == .bf16) && quantization == .exact { quantization = .cast }
        var thresholds = VerificationThresholds.defaults(for: quantization)
        if let k = options.maxMeanKLD { thresholds.maxMeanKLD = k }
        if let t = options.minTop1 { thresholds.minTop1 = t }
        report.quantization = quantization
        report.thresholds = thresholds
        report.weightSize = try WeightSize.of(modelWeights, path: modelPath)

        // A pack's checksums first: damage found here is named by layer and expert.
        if PackFile.isPack(path: modelPath) {
            report.integrityChecked = true
            do { try PackFile(path: modelPath).verifyChecksums() } catch let e as BFFNError { report.integrityError = e.description }
        }

        let drafter = try options.drafter.makeDrafter(target: modelWeights, targetPath: modelPath, threads: options.threads,
                                                       activations: options.activations)
        // One controller for every prompt: what it learns about costs and acceptance carries over.
        let adaptive = options.adaptiveDrafting ? AdaptiveDrafting(shape: options.draftShape) : nil
        let layers = modelWeights.architecture.numLayers
        var hiddenError = [Double](repeating: 0, count: layers), hiddenReference = [Double](repeating: 0, count: layers)
        var routerSequences: [[[Float]]] = [], routerLogitSequences: [[[Float]]] = []
        var jaccardSum = 0.0, jaccardCount = 0
        var speculative = SpeculativeSummary(drafter: options.drafter.description, shape: options.draftShape.description)
        (speculative.draftTreeNodes, speculative.draftLevels) = (options.draftShape.maxNodes, options.draftShape.depth)
        let totalPositions = prompts.reduce(0) { $0 + $1.count }
        var positionsCompared = 0
        for (index, prompt) in prompts.enumerated() {
            defer {
                positionsCompared += prompt.count
                options.positionsDone?(positionsCompared, totalPositions)
            }
            options.progress?("prompt \(index + 1)/\(prompts.count): \(prompt.count) tokens")
            var row = PromptReport(promptTokens: prompt.count)
            // The reference's greedy continuation.
            let referenceGreedy: [Int]
            let filePrompt = file?.prompts[index]
            if let filePrompt {
                referenceGreedy = Array(filePrompt.greedyIds.prefix(options.maxNewTokens ?? filePrompt.greedyIds.count))
            } else {
                referenceGreedy = try GreedyDecoder.generate(referenceEngine!, prompt: prompt, maxNewTokens: options.maxNewTokens ?? 16).generatedIds
            }
            // Logits, routers and hidden states over the prompt (and, against a model, its greedy continuation
            // fed back, so positions beyond the prompt are compared too).
            let sequence = file != nil ? prompt : prompt + referenceGreedy.dropLast()
            let mine = try model.forwardCapturing(sequence, hiddenStates: referenceEngine != nil, routerLogits: true)
            if !mine.routerLogits.isEmpty { routerLogitSequences.append(mine.routerLogits) }
            var theirs: ForwardOutput? = nil
            var referenceRouters: [[Float]] = filePrompt?.routers ?? []
            if let referenceEngine {
                theirs = try referenceEngine.forwardCapturing(sequence, hiddenStates: true)
                referenceRouters = referenceEngine.weights.sourceOrdered(theirs!.routerScores)
            }
            for t in 0..<sequence.count {
                let r = filePrompt.map { $0.logits[(t * V)..<((t + 1) * V)] } ?? theirs!.logits(at: t)
                row.logits.add(reference: r, model: mine.logits(at: t))
            }
            if let theirs, theirs.hiddenStates.count == layers {
                for l in 0..<layers {
                    for i in 0..<mine.hiddenStates[l].count {
                        let d = Double(mine.hiddenStates[l][i]) - Double(theirs.hiddenStates[l][i])
                        hiddenError[l] += d * d
                        hiddenReference[l] += Double(theirs.hiddenStates[l][i]) * Double(theirs.hiddenStates[l][i])
                    }
                }
            }
            let myRouters = modelWeights.sourceOrdered(mine.routerScores)
            if !myRouters.isEmpty { routerSequences.append(myRouters) }
            if !myRouters.isEmpty && referenceRouters.count == myRouters.count {
                let E = modelWeights.architecture.numExperts
                for l in 0..<myRouters.count where referenceRouters[l].count == myRouters[l].count {
                    for t in 0..<(myRouters[l].count / max(E, 1)) {
                        var both = 0, either = 0
                        for e in 0..<E {
                            let a = myRouters[l][t * E + e] != 0, b = referenceRouters[l][t * E + e] != 0
                            if a && b { both += 1 }
                            if a || b { either += 1 }
                        }
                        jaccardSum += either == 0 ? 1 : Double(both) / Double(either)
                        jaccardCount += 1
                    }
                }
            }
            // Greedy continuation of the model, plain and speculative.
            let plain = try GreedyDecoder.generate(model, prompt: prompt, maxNewTokens: referenceGreedy.count)
            row.greedyTokens = referenceGreedy.count
            row.greedyMatchTokens = zip(plain.generatedIds, referenceGreedy).prefix { $0 == $1 }.count
            row.firstGreedyDivergence = row.greedyMatchTokens < referenceGreedy.count ? row.greedyMatchTokens : nil
            speculative.addPlain(plain)
            if let drafter, referenceGreedy.count > 0 {
                let s = try SpeculativeDecoder.generate(model, drafter: drafter, shape: options.draftShape, prompt: prompt,
                                                        options: GenerationOptions(maxNewTokens: referenceGreedy.count), adaptive: adaptive)
                row.speculativeMatches = s.generatedIds == plain.generatedIds
                speculative.add(s, lossless: row.speculativeMatches!)
            }
            report.prompts.append(row)
        }
        report.hiddenRelativeError = referenceEngine == nil || prompts.isEmpty ? [] : (0..<layers).map { l -> Double in
            if !hiddenError[l].isFinite { return .infinity }
            return hiddenReference[l] > 0 ? (hiddenError[l] / hiddenReference[l]).squareRoot() : (hiddenError[l] > 0 ? .infinity : 0)
        }
        report.firstDivergingLayer = report.hiddenRelativeError.firstIndex { !($0 <= thresholds.hiddenTolerance) }
        report.routerJaccard = jaccardCount > 0 ? jaccardSum / Double(jaccardCount) : nil
        report.speculative = drafter == nil || prompts.isEmpty ? nil : speculative
        if !routerSequences.isEmpty {
            report.sparsity = SparsityStatistics(sequences: routerSequences, experts: modelWeights.architecture.numExperts)
            report.sparsity?.objectives = RoutingObjectives(sequences: routerLogitSequences, experts: modelWeights.architecture.numExperts,
                                                            chunkLength: options.objectiveChunkLength, epsilon: modelWeights.config.rmsNormEps ?? 1e-6)
        }
        if let text = options.text {
            guard let referenceEngine else {
                throw BFFNError(.usage, "perplexity on a text needs a reference model, not a reference file", file: referencePath, field: "text")
            }
            options.progress?("perplexity and KL divergence on \(text.count) text tokens")
            report.textEvaluation = try TextEvaluation.run(model: model, reference: referenceEngine, tokens: text, context: options.textContext,
                                                           bos: options.textBos, progress: { done, total in options.positionsDone?(done, total) })
        }
        report.judge()
        return report
    }
}
