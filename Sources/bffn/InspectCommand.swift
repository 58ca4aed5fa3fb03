import ArgumentParser
import BFFNCheckpoint
import BFFNCore
import BFFNInspect
import BFFNPack

#if canImport(Glibc)
import Glibc
#endif

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

    @Argument(help: "A .bfpk pack, a .safetensors or .bin file, a shard index .json, or a checkpoint folder.")
    var path: String

    @Flag(help: "Also print the table of every tensor (name, dtype, shape, bytes).")
    var tensors = false

    @Flag(help: "Also read every tensor's bytes and verify checksums (zip CRC-32s of .bin files; every CRC of a .bfpk) and report the read speed.")
    var check = false

    @Option(help: "Threads for --check.")
    var threads: Int = 2

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        try runReportingErrors(json: json) {
            if PackFile.isPack(path: path) {
                let pack = try PackFile(path: path)
                let report = PackInspectionReport(pack: pack)
                if check { try pack.verifyChecksums() }
                if json {
                    var doc = report.json
                    if check, case .object(var m) = doc { m.append(JSONMember("check", .object([("passed", true)]))); doc = .object(m) }
                    print(doc.serialized(pretty: true))
                } else {
                    print(report.text(includeTensors: tensors))
                    if check { print("check       every header, manifest, tensor, expert block and attachment CRC-32 matched") }
                }
                return
            }
            let checkpoint = try Checkpoint(path: path)
            let report = InspectionReport(checkpoint: checkpoint)
            let read = check ? try checkpoint.readEveryTensor(threads: threads) : nil
            if json {
                var doc = report.json
                if let read, case .object(var members) = doc {
                    members.append(JSONMember("check", .object([
                        ("passed", .bool(true)), ("tensors", .integer(read.tensors)), ("bytes_read", .integer(read.bytes)),
                        ("seconds", .double(read.seconds)), ("gigabytes_per_second", .double(read.gigabytesPerSecond)),
                    ])))
                    doc = .object(members)
                }
                print(doc.serialized(pretty: true))
            } else {
                print(report.text(includeTensors: tensors))
                if let read {
                    let crc = checkpoint.format == .pytorch ? ", every zip CRC-32 matched" : ""
                    print("check       read \(read.bytes) bytes of \(read.tensors) tensors in \(String(Int(read.seconds * 1000))) ms (\(fixed(read.gigabytesPerSecond, 2)) GB/s)\(crc)")
                }
            }
            if let e = report.recognitionError { throw e }
        }
    }
}

/// Runs `body`; a `BFFNError` is printed (as JSON on stdout with `--json`, else on stderr) and becomes the
/// process exit status (1, or 2 for usage errors).
func runReportingErrors(json: Bool, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as BFFNError {
        if json {
            let doc = JSONValue.object([
                ("error", .object([
                    ("code", .string(e.code.rawValue)), ("reason", .string(e.reason)),
                    ("file", e.location.file.map { .string($0) } ?? .null),
                    ("field", e.location.field.map { .string($0) } ?? .null),
                    ("offset", e.location.offset.map { .integer($0) } ?? .null),
                ])),
            ])
            FileHandleOutput.standardError("bffn: error: \(e)\n")
            print(doc.serialized(pretty: true))
        } else {
            FileHandleOutput.standardError("bffn: error: \(e)\n")
        }
        throw ExitCode(e.exitCode)
    }
}

/// Writes to standard error without Foundation.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        var copy = text
        copy.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }
