import ArgumentParser
import BFFNCore
import BFFNKernels
import BFFNEngine

/// `-t/--threads N`: how many threads run the work, validated once for every command that takes it.
struct ThreadOptions: ParsableArguments {
    // Optional, so that --help shows the default as words once, not also as this machine's number.
    @Option(name: [.customShort("t"), .customLong("threads")],
            help: ArgumentHelp("Threads that run the work: exactly this many (default: the CPUs this process may run on: its affinity mask, as taskset sets it). Results never depend on it.", valueName: "n"))
    var requestedThreads: Int?

    /// The threads asked for, or the CPUs this process may run on.
    var threads: Int { requestedThreads ?? WorkerPool.usableCPUs }

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256, not \(threads)") }
    }
}

/// How a command reports: `--json` (one JSON object on stdout instead of text, errors too), `-q/--quiet` (no
/// progress or notes on stderr) and `-v/--verbose` (every step on a line of its own, with timings).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object instead of text (docs/json.md); an error prints {\"schema\": 1, \"error\": {code, reason, file, field, offset}}.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress or notes on stderr (errors are still printed).")
    var quiet = false

    @Flag(name: .shortAndLong, help: "Print every step on stderr as a line of its own, with how long the command took.")
    var verbose = false

    /// Runs `body` under this command's error reporting (`runReportingErrors`).
    func run(_ body: () throws -> Void) throws { try runReportingErrors(json: json, body) }

    /// Prints a command's JSON result on stdout with the vocabulary's version first (`"schema": 1`,
    /// docs/json.md).
    func emit(_ value: JSONValue) { print(value.versioned.serialized(pretty: true)) }
}

/// `--force`: replace outputs that exist (outputs are always written atomically).
struct OverwriteOptions: ParsableArguments {
    @Flag(help: "Replace the output if it exists.")
    var force = false
}

/// `--activations auto|float|int8|bf16` and `--kv-cache f32|bf16`: how activations meet the weights and how the KV cache
/// stores keys and values.
struct NumericsOptions: ParsableArguments {
    @Option(help: "How activations meet the weights: auto (the default: the fastest exact path this CPU has, int8 for q8 / q4 weights and, for bf16 weights, bf16 where the CPU has bf16 products (AVX512_BF16, or NEON) else float32; reports say `auto -> ` and what ran), int8 (for q8 / q4 weights: activations quantized per block of 32 once per call, integer dot products; other weights float32), float (float32 times the widened weights for every product: the exact reference path) or bf16 (for bf16 weights: activations rounded to bf16, bf16 dot products, even where only the slow exact emulation exists: for bit-compatibility checks); formats/numerics.md.")
    var activations: ActivationPrecision = .auto

    @Option(help: "How the KV cache stores keys and values: f32 (exactly as computed) or bf16 (each rounded to bf16 when cached: half the bytes attention reads per token, which grow with the context); formats/numerics.md.")
    var kvCache: KVCachePrecision = .float32

    /// Sets the engine's activation precision and KV cache precision to those asked for.
    func apply(to options: inout EngineOptions) {
        options.activations = activations
        options.kvCache = kvCache
    }
}
