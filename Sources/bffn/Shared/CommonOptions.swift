import ArgumentParser
import BFFNCore
import BFFNKernels
import BFFNEngine

/// `--threads N`: how many threads run the work, validated once for every command that takes it.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads that run the work: exactly this many (default: the CPUs this process may run on: its affinity mask, as taskset sets it). Results never depend on it.")
    var threads: Int = WorkerPool.usableCPUs

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
    func emit(_ value: JSONValue) { print(versioned(value).serialized(pretty: true)) }
}

/// `--force`: replace outputs that exist (outputs are always written atomically).
struct OverwriteOptions: ParsableArguments {
    @Flag(help: "Replace the output if it exists.")
    var force = false
}

/// `--activations float|int8|bf16`: how activations meet the weights.
struct NumericsOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How activations meet the weights: int8 (the default; for q8 / q4 weights: activations quantized per block of 32 once per call, integer dot products; other weights float32), float (float32 times the widened weights for every product: the exact reference path) or bf16 (for bf16 weights: activations rounded to bf16, bf16 dot products); formats/numerics.md.",
                               valueName: "int8|float|bf16"))
    var activations: String = "int8"

    @Option(help: ArgumentHelp("How the KV cache stores keys and values: f32 (the default: exactly as computed) or bf16 (each rounded to bf16 when cached: half the bytes attention reads per token, which grow with the context); formats/numerics.md.",
                               valueName: "f32|bf16"))
    var kvCache: String = "f32"

    func validate() throws {
        guard ActivationPrecision(rawValue: activations) != nil else { throw ValidationError("--activations is float, int8 or bf16, not '\(activations)'") }
        guard KVCachePrecision(rawValue: kvCache) != nil else { throw ValidationError("--kv-cache is f32 or bf16, not '\(kvCache)'") }
    }

    /// The precision asked for.
    var precision: ActivationPrecision { ActivationPrecision(rawValue: activations) ?? .int8 }

    /// The KV cache precision asked for.
    var kvPrecision: KVCachePrecision { KVCachePrecision(rawValue: kvCache) ?? .float32 }

    /// Sets the engine's activation precision and KV cache precision to those asked for.
    func apply(to options: inout EngineOptions) {
        options.activations = precision
        options.kvCache = kvPrecision
    }
}
