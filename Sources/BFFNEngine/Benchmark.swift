import BFFNCore
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// What `Benchmark.run` measured for one thread count.
public struct BenchmarkResult: Sendable {
    public var threads: Int
    public var prefillTokens: Int
    public var decodeTokens: Int
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
    /// Prefill FLOP/s per thread (2 × parameters touched per token × tokens / seconds / threads).
    public var prefillGFLOPsPerThread: Double
}

/// The decode/prefill benchmark behind `bffn bench`.
public enum Benchmark {
    /// Peak RSS of this process in bytes (getrusage).
    public static func peakRSS() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Int(u.ru_maxrss) * 1024
    }

    /// Streaming-read bandwidth: sums a 512 MiB buffer of 8-byte words on `threads` threads, best of 3, GB/s.
    public static func readBandwidth(threads: Int) -> Double {
        let words = 64 << 20
        let buf = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        defer { buf.deallocate() }
        for i in 0..<words { buf[i] = UInt64(i) }
        let job = ReadJob(p: buf, words: words)
        var best = 0.0
        for _ in 0..<3 {
            let t0 = monotonicSeconds()
            let sums = UnsafeMutablePointer<UInt64>.allocate(capacity: threads)
            let sj = SumJob(p: sums)
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                let lo = job.words * i / threads, hi = job.words * (i + 1) / threads
                var a = SIMD4<UInt64>(), k = lo
                let v = UnsafeRawPointer(job.p)
                while k + 4 <= hi {
                    a &+= v.loadUnaligned(fromByteOffset: k * 8, as: SIMD4<UInt64>.self)
                    k += 4
                }
                sj.p[i] = a.wrappedSum()
            }
            let dt = monotonicSeconds() - t0
            withExtendedLifetime(sums.pointee) {}
            sums.deallocate()
            best = max(best, Double(words * 8) / dt / 1e9)
        }
        return best
    }

    struct ReadJob: @unchecked Sendable { let p: UnsafeMutablePointer<UInt64>; let words: Int }
    struct SumJob: @unchecked Sendable { let p: UnsafeMutablePointer<UInt64> }

    /// Runs prefill of `prompt`, then `decodeTokens` greedy steps, in sparse mode; then the same decode in
    /// dense mode to time the dense FFN.
    public static func run(_ engine: Engine, prompt: [Int], decodeTokens: Int, threads: Int) throws -> BenchmarkResult {
        engine.options.threads = threads
        engine.options.captureRouterScores = false
        let w = engine.weights
        func decode(_ mode: FFNMode) throws -> (seconds: Double, ffn: Double, experts: Double, prefill: Double) {
            engine.options.ffnMode = mode
            engine.reset()
            let t0 = monotonicSeconds()
            var out = try engine.forward(prompt)
            let prefill = monotonicSeconds() - t0
            var next = out.argmax(at: prompt.count - 1)
            engine.resetTimers()
            var experts = 0.0
            let t1 = monotonicSeconds()
            for _ in 0..<decodeTokens {
                out = try engine.forward([next])
                experts += Double(out.expertsComputed.reduce(0, +))
                next = out.argmax(at: 0)
            }
            return (monotonicSeconds() - t1, engine.ffnSeconds, experts / Double(max(decodeTokens, 1)), prefill)
        }
        let sparse = try decode(.sparse)
        let dense = try decode(.dense)
        engine.options.ffnMode = .sparse
        let layers = w.layers.count, E = w.architecture.numExperts
        let bytesPerToken = Double(w.nonExpertBytesPerToken) + sparse.experts * Double(w.bytesPerExpert)
        let decodeTPS = Double(decodeTokens) / sparse.seconds
        let effective = bytesPerToken * decodeTPS / 1e9
        let bandwidth = readBandwidth(threads: threads)
        let denseParams = Double(w.nonExpertBytesPerToken + E * layers * w.bytesPerExpert) / Double(w.embedding.type.size)
        return BenchmarkResult(
            threads: threads, prefillTokens: prompt.count, decodeTokens: decodeTokens,
            prefillTokensPerSecond: Double(prompt.count) / sparse.prefill, decodeTokensPerSecond: decodeTPS,
            weightBytesPerToken: bytesPerToken, effectiveGBps: effective, readBandwidthGBps: bandwidth,
            denseFFNMillisecondsPerToken: dense.ffn / Double(decodeTokens) * 1000,
            sparseFFNMillisecondsPerToken: sparse.ffn / Double(decodeTokens) * 1000,
            activeExpertFraction: E > 0 ? sparse.experts / Double(E * layers) : 1, peakRSSBytes: peakRSS(),
            prefillGFLOPsPerThread: 2 * denseParams * Double(prompt.count) / sparse.prefill / 1e9 / Double(threads))
    }
}
