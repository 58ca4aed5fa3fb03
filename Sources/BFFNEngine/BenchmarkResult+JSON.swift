import BFFNCore

extension BenchmarkResult {
    /// One run as `bffn bench --json` prints it (docs/json.md, "bench"): rates in tokens per second, bandwidths in
    /// GB/s (10⁹ bytes), times in milliseconds or seconds as the key says, sizes in bytes.
    public var json: JSONValue {
        .object([
            ("threads", .integer(threads)), ("prefill_tokens", .integer(prefillTokens)), ("decode_tokens", .integer(decodeTokens)),
            ("prefill_tokens_per_second", .double(prefillTokensPerSecond)), ("decode_tokens_per_second", .double(decodeTokensPerSecond)),
            ("weight_bytes_per_token", .double(weightBytesPerToken)), ("effective_gb_per_s", .double(effectiveGBps)),
            ("kv_bytes_read_per_token", .double(kvBytesReadPerToken)),
            ("read_bandwidth_gb_per_s", .double(readBandwidthGBps)), ("bandwidth_ratio", .double(bandwidthRatio)),
            ("dense_ffn_ms_per_token", .double(denseFFNMillisecondsPerToken)),
            ("sparse_ffn_ms_per_token", .double(sparseFFNMillisecondsPerToken)),
            ("active_expert_fraction", .double(activeExpertFraction)), ("peak_rss_bytes", .integer(peakRSSBytes)),
            ("weight_bytes", .integer(weightBytes)), ("kv_cache_bytes", .integer(kvCacheBytes)),
            ("memory_limit_bytes", .integer(memoryLimitBytes)),
            ("prefill_gflops_per_thread", .double(prefillGFLOPsPerThread)),
            ("prompt_tokens_per_second", .double(promptTokensPerSecond)),
            ("prompt_gflops_per_thread", .double(promptGFLOPsPerThread)),
            ("token_ms", .double(tokenMilliseconds)),
            ("chunk_ms", .object(chunkMilliseconds.sorted { $0.key < $1.key }.map { (String($0.key), JSONValue.double($0.value)) })),
            ("hand_offs_per_token", .double(handOffsPerToken)),
            ("peak_kind", .string(peakKind.rawValue)), ("peak_gops_per_thread", .double(peakGOPSPerThread)),
            ("prefill_peak_fraction", .double(prefillPeakFraction)),
        ])
    }
}
