import ArgumentParser
import BFFNCore
import BFFNPack

/// `bffn export X.bfpk -o DIR`: a standard safetensors checkpoint from a pack.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a .bfpk back out as config.json + model.safetensors with the published tensor names.",
        discussion: """
        Experts are written in their source order. A pack in the source's dtype exports every tensor byte for \
        byte as the source had it (for sources with the published names). Quantized tensors are written \
        dequantized, as F32 unless --dtype says f16 or bf16. Attachments are written beside.

        Examples:
          bffn export /tmp/model.bfpk -o /tmp/model-export
          bffn export /tmp/model.bfpk -o /tmp/model-block --layout block
          bffn export /tmp/model-q4.bfpk -o /tmp/model-bf16 --dtype bf16 --json
        """
    )

    @Argument(help: "The .bfpk file.", completion: .file())
    var pack: String

    @Option(name: .shortAndLong, help: "The output folder.", completion: .file())
    var output: String

    @Option(help: "Expert tensor layout: block_linear (published) or block (3-D).")
    var layout: PackExporter.Layout = .blockLinear

    @Option(help: "Write every tensor as f32, f16 or bf16 (round to nearest even; default: each float tensor's stored type, quantized ones dequantized as f32).")
    var dtype: FloatType?

    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func run() throws {
        try printing.run {
            let progress = ProgressReporter(label: "export", options: printing, unit: .items("tensors"))
            progress.note("writing \(output)/model.safetensors")
            try PackExporter.export(PackFile(path: pack), to: output, layout: layout,
                                      overwrite: overwriting.force, dtype: dtype?.dtype) { progress.update($0, $1) }
            progress.finish()
            if printing.json {
                printing.emit(PackExporter.json(folder: output, layout: layout, dtype: dtype?.dtype))
            } else {
                print("wrote \(output)/model.safetensors and config.json")
            }
        }
    }
}
