import BFFNCore
import CBlockFFNIntDot

/// The arithmetic peak of the cores for the instructions the products use, measured (`bffn bench` reports prefill
/// against it): twelve independent multiply-add instructions in registers on every thread at once, nothing read
/// from memory, so what is left is the instruction's throughput at the clock the cores run under that load.
public enum ArithmeticPeak {
    /// Which instruction.
    public enum Kind: String, Sendable {
        /// float32 fma at the widest vectors the CPU has (the float path).
        case float
        /// The int8 dot product of the level `IntegerDot` uses (q8 / q4 weights with int8 activations; none for the
        /// portable level, C that the compiler vectorizes as it can).
        case int8
        /// vdpbf16ps (bf16 weights with bf16 activations where the CPU has AVX512_BF16; the AVX2 and NEON emulations
        /// count as `float`).
        case bf16
    }

    /// The instruction the products with rows of `type` under `activations` run on.
    public static func kind(for type: StorageType, activations: ActivationPrecision) -> Kind {
        switch activations.effective(for: type) {
        case .int8 where IntegerDot.applies(to: type): return .int8
        case .bf16 where type == .bf16 && BF16Dot.instructionSet == "avx512-bf16": return .bf16
        // The AVX2 and NEON paths emulate vdpbf16ps with float32 fmas.
        default: return .float
        }
    }

    /// Giga-operations per second per thread (a multiply-add counts two) with `threads` threads running it at once:
    /// the best of five rounds of about 10 ms each, the slowest thread deciding a round. 0 where this CPU lacks the
    /// instruction (bf16 without AVX512_BF16) or where no one instruction computes the products (the portable int8
    /// level: C that the compiler vectorizes as it can).
    public static func gigaOperationsPerSecond(_ kind: Kind, threads: Int) -> Double {
        let code: Int32 = kind == .int8 ? Int32(BFFN_PEAK_INT8) : kind == .bf16 ? Int32(BFFN_PEAK_BF16) : Int32(BFFN_PEAK_FLOAT)
        let n = max(threads, 1)
        // Rounds sized from a short probe, so a slow core (or the scalar fallback) does not run for seconds.
        let t0 = monotonicSeconds()
        let probe = bffn_peak_operations(code, 10_000)
        guard probe > 0 else { return 0 }
        let perIteration = max(monotonicSeconds() - t0, 1e-7) / 10_000
        let iterations = max(1_000, Int(0.01 / perIteration))
        var best = 0.0
        for _ in 0..<5 {
            let rates = UnsafeMutablePointer<Double>.allocate(capacity: n)
            defer { rates.deallocate() }
            WorkerPool.shared.run(parts: n, threads: n) { i in
                let start = monotonicSeconds()
                let ops = bffn_peak_operations(code, iterations)
                rates[i] = ops / max(monotonicSeconds() - start, 1e-9) / 1e9
            }
            best = max(best, (0..<n).map { rates[$0] }.min() ?? 0)
        }
        return best
    }
}
