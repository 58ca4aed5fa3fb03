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
        byte as the source had it (for sources with the published names). Attachments are written beside.

        Examples:
          bffn export /tmp/model.bfpk -o /tmp/model-export
          bffn export /tmp/model.bfpk -o /tmp/model-block --layout block
        """
    )

    @Argument(help: "The .bfpk file.")
    var pack: String

    @Option(name: .shortAndLong, help: "The output folder.")
    var output: String

    @Option(help: "Expert tensor layout: block_linear (published) or block (3-D).")
    var layout: String = "block_linear"

    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard PackExporter.Layout(rawValue: layout) != nil else { throw ValidationError("--layout must be block_linear or block") }
    }

    func run() throws {
        try printing.run {
            let progress = ProgressReporter(label: "export")
            progress.note("writing \(output)/model.safetensors")
            try PackExporter.export(PackFile(path: pack), to: output, layout: PackExporter.Layout(rawValue: layout)!, overwrite: overwriting.force)
            progress.finish()
            if printing.json {
                printing.emit(.object([("output", .string(output)), ("layout", .string(layout)),
                                       ("files", .array([.string(output + "/config.json"), .string(output + "/model.safetensors")]))]))
            } else {
                print("wrote \(output)/model.safetensors and config.json")
            }
        }
    }
}
