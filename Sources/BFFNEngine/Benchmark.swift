import BFFNCore
import BFFNKernels
import BFFNModel

/// What `Benchmark.run` measured for one thread count.
public struct BenchmarkResult: Sendable {
    public var threads: Int
    public var prefillTokens: Int
    public var decodeTokens: Int
    /// Prompt tokens / the median time of `Benchmark.prefillRuns` prefills that compute every token's logits.
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
    /// Bytes of weights read per decoded token: everything outside the experts plus the experts the router
    /// activated (sparse path).
    public var weightBytesPerToken: Double
    /// weightBytesPerToken × decode tokens/s, in GB/s.
    public var effectiveGBps: Double
    /// Streaming-read bandwidth of this machine measured in the same run with the same threads, GB/s.
    public var readBandwidthGBps: Double
    public var bandwidthRatio: Double { readBandwidthGBps > 0 ? effectiveGBps / readBandwidthGBps : 0 }
    public var denseFFNMillisecondsPerToken: Double
    public var sparseFFNMillisecondsPerToken: Double
    /// Mean fraction of experts computed per decoded token.
    public var activeExpertFraction: Double
    /// Peak resident set size of the process so far, bytes.
    public var peakRSSBytes: Int
    /// The model's weight bytes (`ModelWeights.weightBytes`).
    public var weightBytes: Int = 0
    /// Bytes the KV cache held at its largest during the run.
    public var kvCacheBytes: Int = 0
    /// The resident-memory budget the weights are held to: weight bytes + 10 % + the KV cache, bytes.
    public var memoryLimitBytes: Int { weightBytes + weightBytes / 10 + kvCacheBytes }
    /// Bytes of the KV cache a decode step read on average (every visible slot's keys and values, all layers):
    /// memory traffic beside `weightBytesPerToken` that the bandwidth ratio leaves out.
    public var kvBytesReadPerToken: Double = 0
    /// Prefill GFLOP/s per thread, every token's logits computed (as verification scores a prompt):
    /// 2 × (non-expert parameters + parameters of the experts in the prompt's union) × prompt tokens / seconds
    /// / threads (attention score products not counted).
    public var prefillGFLOPsPerThread: Double
    /// Prompt tokens / the median time of a prefill that computes the last token's logits only (what
    /// generation needs, and what `bffn generate` does).
    public var promptTokensPerSecond: Double = 0
    /// GFLOP/s per thread of that prefill: as `prefillGFLOPsPerThread` less the LM head of all tokens but the
    /// last (the one head row left is a memory-bound pass over the whole head).
    public var promptGFLOPsPerThread: Double = 0
    /// Milliseconds of one decode call of a single token after the prompt (sparse path).
    public var tokenMilliseconds: Double = 0
    /// Chunk length → milliseconds of one call over that many tokens after the prompt (what verifying a chain of
    /// draft tokens costs), sparse path.
    public var chunkMilliseconds: [Int: Double] = [:]
    /// Worker-pool hand-offs per decoded token (`WorkerPool.handOffs`, sparse decode): each costs a publish, a
    /// wake-up and a wait for the slowest part, which is what limits decode on many threads.
    public var handOffsPerToken: Double = 0
    /// The instruction the bulk of the weights (the storage type with the most bytes) is multiplied with, and its
    /// measured peak in giga-operations per second per thread with this run's threads (`ArithmeticPeak`; 0: the
    /// CPU lacks it).
    public var peakKind: ArithmeticPeak.Kind = .float
    public var peakGOPSPerThread: Double = 0
    /// Prefill GFLOP/s per thread over that peak (0 without a peak).
    public var prefillPeakFraction: Double { peakGOPSPerThread > 0 ? prefillGFLOPsPerThread / peakGOPSPerThread : 0 }
}

/// The decode/prefill benchmark behind `bffn bench`.
public enum Benchmark {
    /// Peak RSS of this process in bytes (getrusage).
    public static func peakRSS() -> Int { ProcessMemory.peakResidentBytes() }

    /// Streaming-read bandwidth of `regions` (the model's weights, already resident): every 8-byte word is
    /// summed on exactly `threads` threads (the kernels' worker pool), best of 3 passes, in GB/s. This is the memory decoding streams from (file
    /// mappings, 4 KiB pages), so the ratio compares like with like and allocates nothing.
    public static func readBandwidth(_ regions: [UnsafeRawBufferPointer], threads: Int) -> Double {
        let total = regions.reduce(0) { $0 + $1.count }
        var best = 0.0
        for _ in 0..<3 {
            let t0 = monotonicSeconds()
            var sink: UInt64 = 0
            for r in regions where r.count >= 64 {
                let sums = UnsafeMutablePointer<UInt64>.allocate(capacity: threads)
                let job = (p: r.baseAddress!, words: r.count / 8, sums: sums)
                let parts = r.count < 1 << 20 ? 1 : threads
                WorkerPool.shared.run(parts: parts, threads: threads) { i in
                    let lo = job.words * i / parts, hi = job.words * (i + 1) / parts
                    var a = SIMD4<UInt64>(), k = lo
                    while k + 4 <= hi {
                        a &+= job.p.loadUnaligned(fromByteOffset: k * 8, as: SIMD4<UInt64>.self)
                        k += 4
                    }
                    job.sums[i] = a.wrappedSum()
                }
                for i in 0..<parts { sink &+= sums[i] }
                sums.deallocate()
            }
            let dt = monotonicSeconds() - t0
            withExtendedLifetime(sink) {}
            best = max(best, Double(total) / dt / 1e9)
        }
        return best
    }

    /// Prefill runs per measurement; the median is reported.
    public static let prefillRuns = 3


    /// Runs prefill of `prompt` (`prefillRuns` times each with every token's logits and with the last token's
    /// only, the medians reported), then `decodeTokens` greedy steps in sparse mode; then the same decode in
    /// dense mode to time the dense FFN; then calls over 4, 8 and 32 tokens. Runs on an engine of its own over
    /// `weights` with exactly `threads` threads (nothing the caller holds is changed).
    /// - Throws: `.outOfBounds` for a prompt id outside the vocabulary; `.invalidConfig` from `Engine.init`.
    /// `activations` chooses how activations meet q8 / q4 weights (`EngineOptions.activations`), `kvCache` how the KV
    /// cache stores keys and values (`EngineOptions.kvCache`).
    public static func run(weights w: ModelWeights, prompt: [Int], decodeTokens: Int, threads: Int, activations: ActivationPrecision = .float,
                           kvCache: KVCachePrecision = .float32) throws -> BenchmarkResult {
        var options = EngineOptions(threads: threads)
        options.activations = activations
        options.kvCache = kvCache
        let engine = try Engine(weights: w, options: options)
        // Warm-up: one dense token maps every weight page, so no measurement pays first-touch faults.
        engine.options.ffnMode = .dense
        engine.reset()
        _ = try engine.forward([prompt[0]])
        // Prefill: the median of `prefillRuns` runs (one run of a short prompt is a fraction of a second, so one
        // sample swings with the machine's noise), in sparse mode, with every token's logits and with the last
        // token's only. Multiply-adds actually done: every non-expert weight and its chunk's union of experts per token,
        // less the LM head of every token but the last when only the last token's logits are asked for.
        func prefill(_ rows: LogitRows) throws -> (seconds: Double, flops: Double) {
            var times: [Double] = []
            var last: ForwardOutput?
            repeat {
                engine.reset()
                last = nil // one run's logits (T x V floats) are not kept alive beside the next run's
                let t0 = monotonicSeconds()
                last = try engine.forward(prompt, logits: rows)
                times.append(monotonicSeconds() - t0)
            } while times.count < prefillRuns
            let expertParams = Double(last!.expertTokenProducts.reduce(0, +)) * Double(w.parametersPerExpert)
            let skippedHeadRows = Double(rows.firstRow(tokens: prompt.count))
            let flops = 2 * (Double(w.nonExpertParametersPerToken) * Double(prompt.count) + expertParams - Double(w.head.rows * w.head.cols) * skippedHeadRows)
            return (times.sorted()[times.count / 2], flops)
        }
        engine.options.ffnMode = .sparse
        let lastOnly = try prefill(.last)
        let every = try prefill(.all)
        func decode(_ mode: FFNMode) throws -> (seconds: Double, ffn: Double, experts: Double, handOffs: Double) {
            engine.options.ffnMode = mode
            engine.reset()
            var out = try engine.forward(prompt, logits: .last)
            var next = out.argmax(at: prompt.count - 1)
            engine.resetTimers()
            var experts = 0.0
            let h0 = WorkerPool.shared.handOffs
            let t1 = monotonicSeconds()
            for _ in 0..<decodeTokens {
                out = try engine.forward([next])
                experts += Double(out.expertsComputed.reduce(0, +))
                next = out.argmax(at: 0)
            }
            let seconds = monotonicSeconds() - t1
            let handOffs = Double(WorkerPool.shared.handOffs - h0) / Double(max(decodeTokens, 1))
            return (seconds, engine.ffnSeconds, experts / Double(max(decodeTokens, 1)), handOffs)
        }
        let sparse = try decode(.sparse)
        // Decode step i (from 0) attends to the prompt and i + 1 tokens: the mean over the steps.
        let kvRead = Double(engine.kvBytesPerSlot) * (Double(prompt.count) + Double(decodeTokens + 1) / 2)
        let dense = try decode(.dense)
        engine.options.ffnMode = .sparse
        // Verification-sized calls: C tokens after the prompt, rolled back after each call.
        engine.reset()
        _ = try engine.forward(prompt, logits: .last)
        let base = engine.length
        var chunks: [Int: Double] = [:]
        for C in [4, 8, 32] {
            let chunk = (0..<C).map { prompt[$0 % prompt.count] }
            let reps = max(2, decodeTokens / C)
            let t0 = monotonicSeconds()
            for _ in 0..<reps {
                _ = try engine.forward(chunk)
                engine.truncate(to: base)
            }
            chunks[C] = (monotonicSeconds() - t0) / Double(reps) * 1000
        }
        // The arithmetic peak of the instruction that multiplies the bulk of the weights, on this run's threads.
        var bytesByType: [StorageType: Int] = [:]
        for m in w.allMatrices { bytesByType[m.matrix.type, default: 0] += m.matrix.byteCount }
        let bulk = bytesByType.max { $0.value < $1.value || ($0.value == $1.value && $0.key.description > $1.key.description) }?.key ?? .f32
        let peakKind = ArithmeticPeak.kind(for: bulk, activations: activations)
        let peak = ArithmeticPeak.gigaOperationsPerSecond(peakKind, threads: threads)
        let layers = w.layers.count, E = w.architecture.numExperts
        let bytesPerToken = Double(w.nonExpertBytesPerToken) + sparse.experts * Double(w.bytesPerExpert)
        let decodeTPS = Double(decodeTokens) / sparse.seconds
        let effective = bytesPerToken * decodeTPS / 1e9
        // The memory the decode streamed: the file mappings, or the int8 products' repacked tiles.
        let bandwidth = readBandwidth(engine.forwardWeights().weightRegions, threads: threads)
        return BenchmarkResult(
            threads: threads, prefillTokens: prompt.count, decodeTokens: decodeTokens,
            prefillTokensPerSecond: Double(prompt.count) / every.seconds, decodeTokensPerSecond: decodeTPS,
            weightBytesPerToken: bytesPerToken, effectiveGBps: effective, readBandwidthGBps: bandwidth,
            denseFFNMillisecondsPerToken: dense.ffn / Double(decodeTokens) * 1000,
            sparseFFNMillisecondsPerToken: sparse.ffn / Double(decodeTokens) * 1000,
            activeExpertFraction: E > 0 ? sparse.experts / Double(E * layers) : 1, peakRSSBytes: peakRSS(),
            weightBytes: w.weightBytes, kvCacheBytes: engine.kvCacheBytes, kvBytesReadPerToken: kvRead,
            prefillGFLOPsPerThread: every.flops / every.seconds / 1e9 / Double(threads),
            promptTokensPerSecond: Double(prompt.count) / lastOnly.seconds,
            promptGFLOPsPerThread: lastOnly.flops / lastOnly.seconds / 1e9 / Double(threads),
            tokenMilliseconds: sparse.seconds / Double(decodeTokens) * 1000, chunkMilliseconds: chunks,
            handOffsPerToken: sparse.handOffs, peakKind: peakKind, peakGOPSPerThread: peak)
    }
}
