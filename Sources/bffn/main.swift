import ArgumentParser
import BFFN
import BFFNCore

/// The `bffn` command: parses arguments and prints; the libraries do the work.
struct BFFNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bffn",
        abstract: "Read, inspect and run BlockFFN model checkpoints.",
        discussion: """
        Inputs: a .safetensors file, a sharded index (model.safetensors.index.json or \
        pytorch_model.bin.index.json), a PyTorch pytorch_model.bin (torch.save zip format), a checkpoint \
        folder holding any of these with its config.json and tokenizer files, a Hugging Face cache folder \
        (models--ORG--NAME) or ORG/NAME found in the local cache, or a .bfpk packed file (from `bffn convert`).

        Start with the bundled trained model: \
        bffn generate fixtures/trained --prompt "The list type is" --max-new-tokens 40

        Exit status: 0 success, 1 bad or unreadable input or a failed verification (the message names the file, the tensor or field and \
        the byte offset), 2 usage error.
        """,
        version: BFFNVersion.string,
        subcommands: [InspectCommand.self, ConvertCommand.self, CalibrateCommand.self, ExportCommand.self, GenerateCommand.self, ChatTemplateCommand.self, VerifyCommand.self, PackCommand.self, SynthCommand.self, BenchCommand.self, PlotCommand.self, TokenizeCommand.self, DetokenizeCommand.self, TraceCommand.self, KernelsCommand.self, ServeCommand.self]
    )
}

/// Hints for a command line ArgumentParser rejected.
enum UsageHints {
    /// The subcommands, for suggestions.
    static let commands = ["inspect", "convert", "export", "generate", "verify", "pack", "synth", "bench", "plot", "tokenize", "detokenize", "trace", "kernels", "serve"]

    /// "Did you mean 'inspect'?" when the first argument is not a subcommand but is within two edits of one.
    static func suggestion(for arguments: [String]) -> String {
        guard let first = arguments.first, !first.hasPrefix("-"), !commands.contains(first) else { return "" }
        let best = commands.map { ($0, editDistance(first, $0)) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= 2 else { return "" }
        return "\nDid you mean 'bffn \(best.0)'?"
    }

    /// Levenshtein distance between two strings (by Unicode scalar).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var previous = Array(0...y.count)
        for i in 1...max(1, x.count) where !x.isEmpty {
            var current = [i] + [Int](repeating: 0, count: y.count)
            for j in 1...max(1, y.count) where !y.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return x.isEmpty ? y.count : previous[y.count]
    }
}

// On Linux the Swift runtime finds the command line through /proc; without /proc it would be empty and bffn would
// answer with the top-level help (ProcessArguments reads it without /proc; bffn says so when it cannot).
guard let commandLine = ProcessArguments.read() else {
    FileHandleOutput.standardError(CommandLineArguments.unavailableMessage(procMounted: CommandLineArguments.procMounted) + "\n")
    BFFNCommand.exit(withError: ExitCode(2))
}
let arguments = Array(commandLine.dropFirst())
ProcessMemory.keepFreedBuffers()

// ArgumentParser exits 64 (EX_USAGE) on bad arguments; bffn documents 2 for usage errors, printed as JSON on
// stdout too when the command line asks for --json.
do {
    var command = try BFFNCommand.parseAsRoot(arguments)
    try command.run()
} catch {
    let code = BFFNCommand.exitCode(for: error)
    if code == .validationFailure {
        let message = BFFNCommand.message(for: error)
        FileHandleOutput.standardError(BFFNCommand.fullMessage(for: error) + UsageHints.suggestion(for: arguments) + "\n")
        if arguments.contains("--json") {
            print(BFFNError(.usage, message).json.versioned.serialized(pretty: true))
        }
        BFFNCommand.exit(withError: ExitCode(2))
    }
    BFFNCommand.exit(withError: error)
}
