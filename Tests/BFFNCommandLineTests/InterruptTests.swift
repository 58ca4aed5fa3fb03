import BFFNCore
import BFFNTestSupport
import Testing

/// A writer interrupted by SIGTERM, SIGINT or SIGHUP (Ctrl-C, `kill`, a closed terminal) removes its hidden
/// temporary file before it ends, killed by the signal (a shell shows 143, 130 or 129), and leaves no output.
@Suite("interrupted writers", .serialized)
struct InterruptTests {
    /// Starts `bffn args` paused after `pauseAfter` bytes of its output file (BFFN_FAULT_PAUSE_AFTER_BYTES), its
    /// output discarded; `env` execs bffn, so the pid is bffn's.
    static func startPaused(_ args: [String], pauseAfter: Int) -> pid_t? {
        ChildProcess.start("/usr/bin/env", arguments: ["BFFN_FAULT_PAUSE_AFTER_BYTES=\(pauseAfter)", Fixtures.bffnBinary] + args,
                           discardingOutput: true)
    }

    /// Polls `folder` for up to 30 seconds until a hidden temporary of `name` exists.
    static func waitForTemporary(_ folder: String, _ name: String) -> Bool {
        for _ in 0..<300 {
            if !FaultInjectionTests.hiddenTemporaries(folder, name).isEmpty { return true }
            usleep(100_000)
        }
        return false
    }

    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func aSignalDuringConvertRemovesTheTemporary(_ signal: Int32) throws {
        // A signal this process ignores is ignored by its children too (POSIX), and then removes nothing.
        if InterruptCleanup.isIgnored(signal) { return }
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk")
        let pid = try #require(Self.startPaused(["convert", Fixtures.blockLinearReference, "-o", out, "--quant", "q8"], pauseAfter: 1000))
        let appeared = Self.waitForTemporary(dir.file(""), "m.bfpk")
        #expect(appeared)
        kill(pid, signal)
        let status = ChildProcess.wait(for: pid)
        // Ended by the signal itself (what a shell reports as 128 + signal), not by an exit or a crash.
        #expect(status & 0x7F == signal, "status \(status)")
        #expect(FaultInjectionTests.hiddenTemporaries(dir.file(""), "m.bfpk").isEmpty)
        #expect(access(out, F_OK) != 0)
    }

    /// Through a shell, as a user sees it: `$?` is 143 after SIGTERM; a previous file of the same name survives.
    @Test func theShellSees143AndThePreviousFileSurvives() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk")
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", out, "-q"]).status == 0)
        let previous = try Fixtures.bytes(out)
        let command = shellQuoted([Fixtures.bffnBinary, "convert", Fixtures.blockLinearReference, "-o", out, "--quant", "q4", "--force", "-q"])
        let script = """
            BFFN_FAULT_PAUSE_AFTER_BYTES=1000 \(command) & pid=$!
            for i in $(seq 300); do ls -a '\(dir.file(""))' | grep -q '^\\.m\\.bfpk\\.tmp-' && break; sleep 0.1; done
            kill -TERM $pid; wait $pid; echo $? > '\(dir.file("status"))'
            """
        _ = ChildProcess.runShell(script)
        #expect(String(decoding: try Fixtures.bytes(dir.file("status")), as: UTF8.self) == "143\n")
        #expect(try Fixtures.bytes(out) == previous)
        #expect(FaultInjectionTests.hiddenTemporaries(dir.file(""), "m.bfpk").isEmpty)
    }
}
