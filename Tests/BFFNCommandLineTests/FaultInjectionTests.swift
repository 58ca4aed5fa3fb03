import BFFNCore
import BFFNPack
import BFFNTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A convert killed outright (SIGKILL after N bytes, injected with BFFN_FAULT_KILL_AFTER_BYTES) leaves the
/// previous file under the final name untouched and only a hidden temporary, which the next run of the same
/// command removes and reports; a disk-side failure is a clean error with its cause.
@Suite("faults", .serialized)
struct FaultInjectionTests {
    /// Runs bffn with `environment` prefixed; returns the raw `system` status.
    static func run(_ environment: String, _ args: [String], stderr: String) -> Int32 {
        let command = ([Fixtures.bffnBinary] + args).map { "'" + $0 + "'" }.joined(separator: " ")
        return system("\(environment) \(command) > /dev/null 2> '\(stderr)'")
    }

    static func hiddenTemporaries(_ folder: String, _ name: String) -> [String] {
        ((try? Directory.names(in: folder)) ?? []).filter { $0.hasPrefix("." + name + ".tmp-") }
    }

    @Test func aKilledConvertLosesNothingAndIsCleanedUpNextTime() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk"), err = dir.file("err")
        let model = Fixtures.blockLinearReference
        #expect(try runBFFN(["convert", model, "-o", out]).status == 0)
        let previous = try Fixtures.bytes(out)
        for killAfter in [10, 30_000, 60_000] {
            let status = Self.run("BFFN_FAULT_KILL_AFTER_BYTES=\(killAfter)", ["convert", model, "-o", out, "--quant", "q8", "--force"], stderr: err)
            #expect(status & 0x7F == SIGKILL || (status >> 8) & 0xFF == 128 + SIGKILL, "status \(status) after \(killAfter) bytes")
            #expect(try Fixtures.bytes(out) == previous)
            #expect(Self.hiddenTemporaries(dir.file(""), "m.bfpk").count == 1)
            let again = try runBFFN(["convert", model, "-o", out, "--quant", "q8", "--force", "--json"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stderr.contains("left by an interrupted run"), "\(again.stderr)")
            let removed = try JSONValue.parse(again.stdout)["removed_stale_files"]?.arrayElements ?? []
            #expect(removed.count == 1 && (removed.first?["bytes"]?.intValue ?? -1) >= 0)
            #expect(Self.hiddenTemporaries(dir.file(""), "m.bfpk").isEmpty)
            #expect(try Fixtures.bytes(out) != previous)   // the q8 pack replaced the lossless one
            #expect(try runBFFN(["convert", model, "-o", out, "--force"]).status == 0)
        }
        // A folder that does not exist: the cause, not a generic failure; nothing written anywhere.
        let missing = try runBFFN(["convert", model, "-o", dir.file("no/such/folder/m.bfpk")])
        #expect(missing.status == 1 && missing.stderr.contains("No such file or directory"), "\(missing.stderr)")
    }

    /// Starts `bffn args` without waiting (posix_spawn); returns its pid.
    static func spawn(_ args: [String]) -> pid_t {
        var pid = pid_t()
        let argv = ([Fixtures.bffnBinary] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        #expect(posix_spawn(&pid, Fixtures.bffnBinary, &actions, nil, argv, environ) == 0)
        return pid
    }

    @Test func twoConvertsToOneNameEndWithOneWholeFile() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk")
        let model = Fixtures.blockLinearReference
        for _ in 0..<3 {
            let a = Self.spawn(["convert", model, "-o", out, "--quant", "q8", "--force"])
            let b = Self.spawn(["convert", model, "-o", out, "--quant", "q4", "--force"])
            var sa: Int32 = 0, sb: Int32 = 0
            waitpid(a, &sa, 0)
            waitpid(b, &sb, 0)
            #expect(sa == 0 && sb == 0)
            let check = try runBFFN(["inspect", out, "--check", "--json"])
            #expect(check.status == 0, "\(check.stderr)")
            let scheme = try JSONValue.parse(check.stdout)["quantization"]?["scheme"]?.stringValue
            #expect(scheme == "q8/row" || scheme == "q4/g32/asym")
            #expect(Self.hiddenTemporaries(dir.file(""), "m.bfpk").isEmpty)
        }
    }

    /// A reader that opened a pack before it was replaced keeps reading the old file whole (its mapping holds the
    /// old inode); one that opens it after reads the new file whole. Never a mix.
    @Test func aReaderSeesTheOldOrTheNewPackNeverAMix() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk")
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", out, "-q"]).status == 0)
        let old = try PackFile(path: out)
        #expect(try runBFFN(["convert", Fixtures.blockLinearReference, "-o", out, "--quant", "q4", "--force", "-q"]).status == 0)
        try old.verifyChecksums()
        #expect(old.manifest["quantization"]?["scheme"] == "source")
        let new = try PackFile(path: out)
        try new.verifyChecksums()
        #expect(new.manifest["quantization"]?["scheme"] == "q4/g32/asym")
    }

    /// A write the file system refuses (here: the file-size limit, as a stand-in for a full disk) is a clean error
    /// with the system's reason and the byte offset; no output and no temporary file are left.
    @Test func aRefusedWriteIsACleanErrorAndLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk"), err = dir.file("err")
        let status = Self.run("ulimit -f 40; trap '' XFSZ;", ["convert", Fixtures.blockLinearReference, "-o", out], stderr: err)
        #expect((status >> 8) & 0xFF == 1, "status \(status)")
        let message = String(decoding: try Fixtures.bytes(err), as: UTF8.self)
        #expect(message.contains("File too large") && message.contains("byte "), "\(message)")
        #expect(access(out, F_OK) != 0 && Self.hiddenTemporaries(dir.file(""), "m.bfpk").isEmpty)
    }
}
