import BFFNCore
import BFFNTestSupport
import Testing

/// Progress goes to stderr only on a terminal (a pseudo-terminal from util-linux `script` here), draws a bar,
/// writes no escape codes under TERM=dumb or NO_COLOR, and obeys --quiet and --verbose.
@Suite("progress", .serialized)
struct ProgressTests {
    static let hasScript = access("/usr/bin/script", X_OK) == 0

    /// What `bffn args` writes to a pseudo-terminal (stdout and stderr together), with `environment` set.
    static func onTerminal(_ args: [String], environment: String) throws -> String {
        let dir = TemporaryDirectory()
        let out = dir.file("tty")
        let command = shellQuoted([Fixtures.bffnBinary] + args)
        let status = ChildProcess.runShell("\(environment) /usr/bin/script -qec \"\(command)\" /dev/null > '\(out)' 2>&1")
        #expect(status == 0)
        return String(decoding: try Fixtures.bytes(out), as: UTF8.self)
    }

    @Test(.enabled(if: hasScript)) func aBarOnTerminalsWithoutEscapesWhenAsked() throws {
        let dir = TemporaryDirectory()
        let args = ["convert", Fixtures.blockLinearReference, "-o", dir.file("m.bfpk"), "--force"]
        let xterm = try Self.onTerminal(args, environment: "env -u NO_COLOR TERM=xterm")
        #expect(xterm.contains("convert: [") && xterm.contains("100 %") && xterm.contains("\u{1B}[K"))
        for environment in ["env -u NO_COLOR TERM=dumb", "env TERM=xterm NO_COLOR=1"] {
            let plain = try Self.onTerminal(args, environment: environment)
            #expect(plain.contains("convert: [") && plain.contains("100 %") && !plain.contains("\u{1B}"), "\(environment)")
        }
        let quiet = try Self.onTerminal(args + ["--quiet"], environment: "env -u NO_COLOR TERM=xterm")
        #expect(!quiet.contains("convert: [") && quiet.contains("wrote "))
    }

    @Test func nothingOnStderrUnlessVerbose() throws {
        let dir = TemporaryDirectory()
        let args = ["convert", Fixtures.blockLinearReference, "-o", dir.file("m.bfpk"), "--force"]
        let plain = try runBFFN(args)
        #expect(plain.status == 0 && plain.stderr.isEmpty, "\(plain.stderr)")
        let verbose = try runBFFN(args + ["-v"])
        #expect(verbose.status == 0 && verbose.stderr.contains("convert: done in "), "\(verbose.stderr)")
        let quiet = try runBFFN(["inspect", Fixtures.blockLinearReference, "--check", "-v", "-q"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty)
        let check = try runBFFN(["inspect", Fixtures.blockLinearReference, "--check", "--verbose"])
        #expect(check.stderr.contains("inspect: reading every byte"), "\(check.stderr)")
    }

    @Test func numbersForPeople() {
        #expect(TextNumber.bytes(999) == "999 B" && TextNumber.bytes(104_432) == "104 kB" && TextNumber.bytes(615_888_232) == "616 MB")
        #expect(TextNumber.bytes(3.26e9) == "3.26 GB" && TextNumber.bytes(12_345_678) == "12.3 MB")
        #expect(TextNumber.bytesWithSize(1_234_567) == "1,234,567 bytes (1.2 MB)")
        #expect(TextNumber.short(0.0006237911102071308) == "6.24e-4" && TextNumber.short(0) == "0" && TextNumber.short(45.04) == "45.0")
        #expect(TextNumber.count(2_212_236.43) == "2.21 M" && TextNumber.count(16_380_068.8) == "16.4 M" && TextNumber.count(950) == "950")
        #expect(TextNumber.count(12_345) == "12.3 k" && TextNumber.count(7.5) == "7.50")
    }
}
