import ArgumentParser
import BFFNCore

/// `--threads N`: how many threads run the work, validated once for every command that takes it.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads that run the work: exactly this many (default: the number of online CPUs). Results never depend on it.")
    var threads: Int = WorkerPool.onlineCPUs

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256, not \(threads)") }
    }
}

/// `--json`: one JSON object on stdout instead of text (errors too: `{"error": {...}}`).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object instead of text; an error prints {\"error\": {code, reason, file, field, offset}}.")
    var json = false

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
