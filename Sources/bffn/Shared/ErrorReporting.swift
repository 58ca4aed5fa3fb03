import ArgumentParser
import BFFNCore

/// Runs `body`; a `BFFNError` is printed (as JSON on stdout with `--json`, and on stderr) and becomes the
/// process exit status (1, or 2 for usage errors). Every command runs its work through here.
func runReportingErrors(json: Bool, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as BFFNError {
        FileHandleOutput.standardError("bffn: error: \(e)\n")
        if json { print(e.json.versioned.serialized(pretty: true)) }
        throw ExitCode(e.exitCode)
    }
}


/// Writes to standard error without Foundation.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        var copy = text
        copy.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
    }

    /// Writes `text` to standard output at once (through stdio, so it stays in order with `print`).
    static func standardOutput(_ text: String) {
        guard !text.isEmpty else { return }
        print(text, terminator: "")
        fflush(nil)
    }
}

/// Reads standard input without Foundation.
enum FileHandleInput {
    /// Every byte of standard input, to its end.
    /// - Throws: `.io` when reading fails.
    static func readStandardInput() throws -> [UInt8] {
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { CLibrary.read(0, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                if errno == EINTR { continue }
                throw BFFNError(.io, "cannot read standard input (errno \(errno))", file: "-")
            }
            bytes += chunk[0..<n]
        }
    }
}
