import ArgumentParser
import BFFNCore
import BFFNEngine
import BFFNExpertStreaming

/// `--memory-budget BYTES` and `--no-verify-blocks`: run a pack's experts from a bounded cache.
struct MemoryBudgetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run within this many bytes of weights (e.g. 64M, 1.5G): the dense weights stay mapped, expert blocks are read from the pack on demand into a fixed cache (a pack with a deployment split uses it by default).", valueName: "bytes"))
    var memoryBudget: String?

    @Flag(help: "Do not check each expert block's CRC-32 when it is first read from the pack.")
    var noVerifyBlocks = false

    @Option(help: "With an expert cache: how many of the next layer's most used experts (a hot-first pack's first slots) to read ahead while a layer computes; their buffers come out of the budget (default 0: on the bundled model this predictor wastes most of what it reads).")
    var prefetch: Int = 0

    /// The budget in bytes, if given.
    func budgetBytes() throws -> UInt64? {
        guard let s = memoryBudget else { return nil }
        if let v = TextNumber.parseByteCount(s), v > 0 { return v }
        throw ValidationError("--memory-budget takes bytes, e.g. 67108864, 64M or 1.5G, not '\(s)'")
    }

    /// Attaches an expert cache to `engine` when a budget is given, or when `model` is a pack with a deployment
    /// split (`ExpertCache.attach`); nil otherwise.
    /// - Throws: `.usage` for a budget on a checkpoint (convert it first); the cache's errors (`.budgetExceeded`).
    func attach(to engine: Engine, model: String) throws -> ExpertCache? {
        try ExpertCache.attach(to: engine, modelPath: model, budgetBytes: budgetBytes(), prefetch: prefetch, verifyBlocks: !noVerifyBlocks)
    }
}
