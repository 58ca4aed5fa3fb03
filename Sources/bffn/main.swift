import ArgumentParser
import BFFNCore

/// The `bffn` command: parses arguments and prints; the libraries do the work.
struct BFFNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bffn",
        abstract: "Read, inspect and run BlockFFN model checkpoints.",
        discussion: """
        Inputs: a .safetensors file, a sharded index (model.safetensors.index.json or \
        pytorch_model.bin.index.json), a PyTorch pytorch_model.bin (torch.save zip format), a checkpoint \
        folder holding any of these with its config.json, or a .bfpk packed file (from `bffn convert`).

        Exit status: 0 success, 1 bad or unreadable input or a failed verification (the message names the file, the tensor or field and \
        the byte offset), 2 usage error.
        """,
        version: BFFNVersion.string,
        subcommands: [InspectCommand.self, ConvertCommand.self, ExportCommand.self, GenerateCommand.self, VerifyCommand.self, PackCommand.self, SynthCommand.self, BenchCommand.self]
    )
}

/// The tool version.
enum BFFNVersion {
    static let string = "0.1.0"
}

// ArgumentParser exits 64 (EX_USAGE) on bad arguments; bffn documents 2 for usage errors.
do {
    var command = try BFFNCommand.parseAsRoot()
    try command.run()
} catch {
    let code = BFFNCommand.exitCode(for: error)
    if code == .validationFailure {
        FileHandleOutput.standardError(BFFNCommand.fullMessage(for: error) + "\n")
        BFFNCommand.exit(withError: ExitCode(2))
    }
    BFFNCommand.exit(withError: error)
}
