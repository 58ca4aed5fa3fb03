import BFFNChatTemplate
import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNExpertStreaming
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNSpeculative
import BFFNTokenizer
import Synchronization

/// A BlockFFN model opened for generation: the weights (a .bfpk pack or a checkpoint), the engine that runs them,
/// the tokenizer found with them, and the drafter and expert cache the options ask for.
///
/// Open it once and call it many times: every call runs on the caller's thread and calls on one model are
/// serialized (a second caller waits), so one model may be shared between threads and tasks; with
/// `Options.parallelSequences` above 1, concurrent calls are decoded together instead. Each generation
/// starts from a fresh KV cache; nothing of one generation leaks into the next.
public final class BlockFFNModel: @unchecked Sendable {
    /// How a model is opened and run. The defaults are those of `bffn generate`.
    public struct Options: Sendable {
        /// Threads of the engine (nil: the CPUs this process may run on). Results never depend on it.
        public var threads: Int?
        /// Run a pack within this many bytes of weights: dense weights stay mapped, expert blocks are read on
        /// demand into a bounded cache (nil: all mapped, or a deployment pack's own split).
        public var memoryBudgetBytes: UInt64?
        /// With an expert cache: experts of the next layer read ahead per layer.
        public var prefetch = 0
        /// With an expert cache: check each expert block's CRC-32 when it is first read.
        public var verifyExpertBlocks = true
        /// The speculative drafter (`DrafterChoice.parse` reads the CLI's spellings: ngram, draft:PATH, eagle...).
        public var speculative: DrafterChoice = .none
        /// The draft chain or tree (nil: `DraftShape.chosen(for:)` of the drafter).
        public var draftShape: DraftShape?
        /// Adapt the draft size to the costs and acceptance measured in the run (false: always the whole draft).
        /// Greedy decoding only: sampled generations always draft the whole shape, so that a seed reproduces them.
        public var adaptiveDrafting = true
        /// How activations meet the weights (`auto`: the fastest exact path of this CPU).
        public var activations: ActivationPrecision = .auto
        /// How the KV cache stores keys and values.
        public var kvCache: KVCachePrecision = .float32
        /// Sparse (only active experts) or dense expert computation; the same output.
        public var ffnMode: FFNMode = .sparse
        /// A tokenizer.json or tokenizer.model to use instead of the model's own.
        public var tokenizerFile: String?
        /// Read block_linear expert down weights where the checkpoint stores them instead of copying them.
        public var inPlaceExperts = false
        /// Up to this many concurrent `generate` calls are decoded together, in shared forward calls (each call's
        /// tokens are the ones it gets alone; the weights are read once per step for all of them). 1: calls are
        /// serialized. Plain decoding only: a model with a speculative drafter serializes its calls whatever this
        /// says. 1...256.
        public var parallelSequences = 1

        /// The defaults.
        public init() {}
    }

    /// The model's path as resolved (a Hugging Face cache id becomes its snapshot folder).
    public let path: String
    /// The options it was opened with.
    public let options: Options
    /// The tokenizer carried in the pack or found beside the checkpoint; nil when there is none (prompts are then
    /// token ids).
    public let tokenizer: TokenizerBundle?
    /// Why there is no tokenizer, when there is none.
    public let tokenizerError: BFFNError?
    /// What the products run as, e.g. `auto -> int8 (avx512-vnni)`.
    public let activationsLabel: String
    /// The model's chat template (carried in the pack or beside the checkpoint); nil when it has none, and chats
    /// are written in the published BlockFFN format.
    public let chatTemplate: ChatTemplate?
    /// Why the model's chat template could not be read, when it could not (chats then fail with this error).
    public let chatTemplateError: BFFNError?

    let engine: Engine
    let cache: ExpertCache?
    let drafter: (any Drafter)?
    let shape: DraftShape?
    /// The adaptive drafting controller of greedy speculative generations, one for the model's life: what it
    /// measured about the costs (and whether drafting can pay at all) carries from one call to the next, so a
    /// server's requests do not each pay its first measurements. Used under `lock` only.
    let drafting: AdaptiveDrafting?
    let lock = Mutex(())
    /// Concurrent calls decoded together (`Options.parallelSequences` > 1 without a drafter); nil: serialized.
    let batched: BatchedDecoding?

    /// Opens `path`: a .bfpk pack, a checkpoint (folder, .safetensors, .bin or shard index), or ORG/NAME in the
    /// local Hugging Face cache.
    /// - Throws: `BFFNError` from the readers (naming file, field and offset), `.usage` for options that do not
    ///   apply (a memory budget on a checkpoint), `.budgetExceeded`, the drafter's errors.
    public init(path: String, options: Options = Options()) throws {
        let resolved = try HubCache.resolve(path)
        self.path = resolved
        self.options = options
        let threads = options.threads ?? WorkerPool.usableCPUs
        guard (1...256).contains(threads) else { throw BFFNError(.usage, "threads must be 1...256, not \(threads)", field: "threads") }
        var engineOptions = EngineOptions(threads: threads, ffnMode: options.ffnMode)
        engineOptions.activations = options.activations
        engineOptions.kvCache = options.kvCache
        engine = try Engine(weights: ModelWeights.open(path: resolved, expertDown: options.inPlaceExperts ? .asStored : .expertMajor), options: engineOptions)
        activationsLabel = options.activations.label(for: engine.weights.allMatrices.map(\.matrix.type))
        cache = try ExpertCache.attach(to: engine, modelPath: resolved, budgetBytes: options.memoryBudgetBytes, prefetch: options.prefetch,
                                       verifyBlocks: options.verifyExpertBlocks)
        // The tokenizer files are read once, for the tokenizer and for the chat template; a model whose files are
        // unreadable still opens (generating from ids), with the error kept for text and chat prompts.
        let files: Result<TokenizerFiles, BFFNError>
        do { files = .success(try ModelFiles.tokenizerFiles(of: resolved)) } catch let e as BFFNError { files = .failure(e) }
        do {
            tokenizer = try ModelFiles.tokenizer(from: files.get(), model: resolved, file: options.tokenizerFile)
            tokenizerError = nil
        } catch let e as BFFNError where options.tokenizerFile == nil {
            tokenizer = nil
            tokenizerError = e
        }
        do {
            chatTemplate = try ModelFiles.chatTemplate(from: files.get(), model: resolved)
            chatTemplateError = nil
        } catch let e as BFFNError {
            chatTemplate = nil
            chatTemplateError = e
        }
        drafter = try options.speculative.makeDrafter(target: engine.weights, targetPath: resolved, threads: threads,
                                                         activations: options.activations)
        shape = try drafter == nil ? nil : (options.draftShape ?? DraftShape.chosen(for: options.speculative))
        drafting = shape.map { AdaptiveDrafting(shape: $0) }
        guard (1...256).contains(options.parallelSequences) else {
            throw BFFNError(.usage, "parallel sequences must be 1...256, not \(options.parallelSequences)", field: "parallel_sequences")
        }
        batched = drafter == nil && options.parallelSequences > 1 ? BatchedDecoding(engine: engine, limit: options.parallelSequences) : nil
    }

    /// The model's configuration (config.json as read).
    public var config: ModelConfig { engine.weights.config }
    /// The model's architecture as recognized.
    public var architecture: ModelArchitecture { engine.weights.architecture }

    /// The tokenizer, or the reason there is none.
    /// - Throws: why the model has no usable tokenizer.
    public func requireTokenizer() throws -> TokenizerBundle {
        if let tokenizer { return tokenizer }
        throw tokenizerError ?? BFFNError(.io, "the model has no tokenizer", file: path)
    }

    /// Token ids of `text`, as the Python libraries' `encode(text, add_special_tokens=addSpecialTokens)`.
    /// - Throws: when the model has no tokenizer; the tokenizer's errors.
    public func tokenize(_ text: String, addSpecialTokens: Bool = false) throws -> [Int] {
        try requireTokenizer().encode(text, addSpecial: addSpecialTokens)
    }

    /// The text of `ids`, as `decode(ids, skip_special_tokens=skipSpecialTokens)`.
    /// - Throws: when the model has no tokenizer; `.outOfBounds` for an id beyond the vocabulary.
    public func detokenize(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        let bundle = try requireTokenizer()
        var list = ids
        if skipSpecialTokens {
            let special = Set([bundle.bosId, bundle.padId, bundle.unknownId].compactMap { $0 } + bundle.eosIds)
            list.removeAll { special.contains($0) }
        }
        return try bundle.decode(list)
    }

    /// With `Options.parallelSequences` above 1 (and no drafter): the forward calls made so far for concurrent
    /// calls, and the sequences that got a token from them, summed (`sequenceSteps / steps` is the mean number of
    /// sequences a call decoded). nil when calls are serialized.
    public var batchStatistics: (steps: Int, sequenceSteps: Int)? { batched?.statistics }

    /// The expert cache's figures after `tokens` tokens (nil without a memory budget): JSON and a text line.
    public func memoryReport(tokens: Int) -> (json: JSONValue, text: String)? {
        if let batched { return batched.engineLock.withLock { _ in cache?.report(tokens: tokens) } }
        return lock.withLock { _ in cache?.report(tokens: tokens) }
    }
}
