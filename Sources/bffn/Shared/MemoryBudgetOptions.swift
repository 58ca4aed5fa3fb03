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
        if let v = parseByteCount(s), v > 0 { return v }
        throw ValidationError("--memory-budget takes bytes, e.g. 67108864, 64M or 1.5G, not '\(s)'")
    }

    /// Attaches an expert cache to `engine` when a budget is given, or when `model` is a pack with a deployment
    /// split (`ExpertCache.attach`); nil otherwise.
    /// - Throws: `.usage` for a budget on a checkpoint (convert it first); the cache's errors (`.budgetExceeded`).
    func attach(to engine: Engine, model: String) throws -> ExpertCache? {
        try ExpertCache.attach(to: engine, modelPath: model, budgetBytes: budgetBytes(), prefetch: prefetch, verifyBlocks: !noVerifyBlocks)
    }
}

/// The cache's figures for `--json` (key `memory`) and a line for people.
func memoryReport(_ cache: ExpertCache, tokens: Int) -> (json: JSONValue, text: String) {
    let s = cache.statistics
    let e = cache.pack.experts!
    let perToken = tokens > 0 ? Double(s.bytesRead) / Double(tokens) : 0
    let json: JSONValue = .object([
        ("capacity_blocks", .integer(cache.capacity)), ("block_bytes", .integer(e.blockBytes)),
        ("cache_bytes", .integer(UInt64(cache.capacity) * e.blockBytes)), ("expert_bytes_total", .integer(UInt64(e.layers * e.count) * e.blockBytes)),
        ("requests", .integer(s.requests)), ("hits", .integer(s.hits)), ("hit_rate", .double(s.hitRate)),
        ("blocks_read", .integer(s.blocksRead)), ("bytes_read", .integer(s.bytesRead)), ("bytes_read_per_token", .double(perToken)),
        ("stall_seconds", .double(s.stallSeconds)), ("direct_io", .bool(s.directIO)),
        ("prefetched", .integer(s.prefetched)), ("prefetch_used", .integer(s.prefetchUsed)),
    ])
    let text = "expert cache: \(cache.capacity) of \(e.layers * e.count) blocks (\(TextNumber.bytesWithSize(UInt64(cache.capacity) * e.blockBytes))), hit rate \(fixed(s.hitRate * 100, 1)) %, read \(TextNumber.bytesWithSize(UInt64(perToken))) per token, stalled \(fixed(s.stallSeconds, 3)) s, read ahead \(s.prefetched) (\(s.prefetchUsed) used)\(s.directIO ? "" : " (buffered reads: this file system refuses O_DIRECT)")"
    return (json, text)
}
