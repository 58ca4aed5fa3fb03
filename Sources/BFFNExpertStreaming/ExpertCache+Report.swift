import BFFNCore

extension ExpertCache {
    /// The cache's figures after `tokens` tokens (prompt and generated together): the object the CLI prints under
    /// `memory` in `generate --json` and `verify --json` (docs/json.md), and one line for people. Bytes are bytes;
    /// `bytes_read_per_token` is 0 when `tokens` is 0. Throws nothing.
    public func report(tokens: Int) -> (json: JSONValue, text: String) {
        let s = statistics
        let blockBytes = pack.experts?.blockBytes ?? 0
        let blocks = UInt64(pack.experts.map { $0.layers * $0.count } ?? 0)
        let perToken = tokens > 0 ? Double(s.bytesRead) / Double(tokens) : 0
        let cacheBytes = UInt64(capacity) * blockBytes
        let json: JSONValue = .object([
            ("capacity_blocks", .integer(capacity)), ("block_bytes", .integer(blockBytes)),
            ("cache_bytes", .integer(cacheBytes)), ("expert_bytes_total", .integer(blocks * blockBytes)),
            ("requests", .integer(s.requests)), ("hits", .integer(s.hits)), ("hit_rate", .double(s.hitRate)),
            ("blocks_read", .integer(s.blocksRead)), ("bytes_read", .integer(s.bytesRead)), ("bytes_read_per_token", .double(perToken)),
            ("stall_seconds", .double(s.stallSeconds)), ("direct_io", .bool(s.directIO)),
            ("prefetched", .integer(s.prefetched)), ("prefetch_used", .integer(s.prefetchUsed)),
        ])
        let text = "expert cache: \(capacity) of \(blocks) blocks (\(TextNumber.bytesWithSize(cacheBytes))), hit rate \(TextNumber.fixed(s.hitRate * 100, 1)) %, "
            + "read \(TextNumber.bytesWithSize(UInt64(perToken))) per token, stalled \(TextNumber.fixed(s.stallSeconds, 3)) s, read ahead \(s.prefetched) "
            + "(\(s.prefetchUsed) used)\(s.directIO ? "" : " (buffered reads: this file system refuses O_DIRECT)")"
        return (json, text)
    }
}
