import ArgumentParser
import BFFNCheckpoint
import BFFN
import BFFNCore
import BFFNInspect
import BFFNModel
import BFFNPack
import BFFNTokenizer

/// `bffn inspect PATH`: a model summary, the tensor table, or a JSON document.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a checkpoint: format, parameters, dtypes, architecture, expert layout.",
        discussion: """
        Reads only headers (the safetensors JSON header, the zip directory and data.pkl), so it is fast on \
        multi-GB files. Exits 1 when the file is malformed or the model cannot be recognised (the summary is \
        still printed for a readable file whose model is not recognised).

        Examples:
          bffn inspect fixtures/reference/mla-block-rms-bf16
          bffn inspect model.safetensors --tensors
          bffn inspect pytorch_model.bin --json | jq .model
        """
    )

    @Argument(help: "A .bfpk pack, a .safetensors or .bin file, a shard index .json, or a checkpoint folder.", completion: .file())
    var path: String

    @Flag(help: "Also print the table of every tensor (name, dtype, shape, bytes).")
    var tensors = false

    @Flag(help: "Also read every tensor's bytes and verify checksums (zip CRC-32s of .bin files; every CRC of a .bfpk) and report the read speed.")
    var check = false

    @OptionGroup var skillCard: SkillCardOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func run() throws {
        try printing.run {
            let path = try HubCache.resolve(self.path)
            if let found = try skillCard.layer(at: path) {
                let summary = SkillCardInspection(layer: found.layer, format: found.format, files: found.files)
                if printing.json { printing.emit(summary.json) } else { print(summary.text) }
                return
            }
            let progress = ProgressReporter(label: "inspect", options: printing)
            let inspection = try ModelInspection(path: path, check: check, threads: threading.threads) { progress.note($0) }
            progress.finish()
            if printing.json { printing.emit(inspection.json) } else { print(tensors ? inspection.textWithTensors : inspection.text) }
            if let e = inspection.recognitionError { throw e }
        }
    }
}
