import BFFNCore
import BFFNEngine
import BFFNExpertStreaming
import BFFNModel
import BFFNPack

/// Decode speed of a pack run within a memory budget, beside the unconstrained run, measured in one process
/// (`bffn bench --memory-budget`): unconstrained; the budget with the file's pages in the page cache (warm);
/// and the budget after the pack's pages were dropped from the page cache with `FileCacheAdvice` (cold; on Darwin,
/// which cannot drop them, the same as warm).
public enum BudgetBenchmark {
    /// One measured run.
    public struct Run: Sendable {
        /// `unconstrained`, `budget-warm` or `budget-cold`.
        public var mode: String
        public var decodeTokensPerSecond: Double
        public var prefillSeconds: Double
        /// With a budget: the cache's figures over the decode (nil unconstrained).
        public var capacityBlocks: Int?, hitRate: Double?, bytesReadPerToken: Double?, stallSeconds: Double?, directIO: Bool?

        public var json: JSONValue {
            .object([("mode", .string(mode)), ("decode_tokens_per_second", .double(decodeTokensPerSecond)), ("prefill_seconds", .double(prefillSeconds)),
                     ("capacity_blocks", capacityBlocks.map { .integer($0) } ?? .null), ("hit_rate", hitRate.map { .double($0) } ?? .null),
                     ("bytes_read_per_token", bytesReadPerToken.map { .double($0) } ?? .null), ("stall_seconds", stallSeconds.map { .double($0) } ?? .null),
                     ("direct_io", directIO.map { .bool($0) } ?? .null)])
        }
    }

    /// Drops the file's pages from the page cache (clean pages only; a hint the kernel may ignore).
    public static func dropPageCache(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        FileCacheAdvice.dropCachedPages(of: fd)
        close(fd)
    }

    /// Measures the three runs: `prompt` then `decodeTokens` greedy tokens each.
    /// - Throws: the pack's, the cache's (`.budgetExceeded`) and the engine's errors.
    public static func run(packPath: String, budgetBytes: UInt64, prompt: [Int], decodeTokens: Int, threads: Int,
                           verifyBlocks: Bool = true) throws -> [Run] {
        var runs: [Run] = []
        for mode in ["unconstrained", "budget-warm", "budget-cold"] {
            if mode == "budget-cold" { dropPageCache(packPath) }
            let pack = try PackFile(path: packPath)
            let engine = try Engine(weights: try ModelWeights(pack: pack), options: EngineOptions(threads: threads))
            var cache: ExpertCache? = nil
            if mode != "unconstrained" {
                cache = try ExpertCache(pack: pack, capacity: try ExpertCache.capacity(of: pack, budgetBytes: budgetBytes), verifyBlocks: verifyBlocks)
                engine.expertProvider = cache
            }
            let t0 = monotonicSeconds()
            var out = try engine.forward(prompt, logits: .last)
            let t1 = monotonicSeconds()
            cache?.resetStatistics()
            var next = out.argmax(at: prompt.count - 1)
            let t2 = monotonicSeconds()
            for _ in 0..<decodeTokens {
                out = try engine.forward([next])
                next = out.argmax(at: 0)
            }
            let t3 = monotonicSeconds()
            var run = Run(mode: mode, decodeTokensPerSecond: Double(decodeTokens) / max(t3 - t2, 1e-9), prefillSeconds: t1 - t0)
            if let s = cache?.statistics {
                run.capacityBlocks = cache!.capacity
                run.hitRate = s.hitRate
                run.bytesReadPerToken = Double(s.bytesRead) / Double(max(decodeTokens, 1))
                run.stallSeconds = s.stallSeconds
                run.directIO = s.directIO
            }
            runs.append(run)
        }
        return runs
    }

    /// `bffn bench --memory-budget --json` (docs/json.md, "bench (memory budget)"): the pack, the budget in bytes, the
    /// decoded tokens per run and each run's figures.
    public static func json(model: String, budgetBytes: UInt64, decodeTokens: Int, runs: [Run]) -> JSONValue {
        .object([("model", .string(model)), ("budget_bytes", .integer(budgetBytes)), ("decode_tokens", .integer(decodeTokens)),
                 ("runs", .array(runs.map(\.json)))])
    }
}
