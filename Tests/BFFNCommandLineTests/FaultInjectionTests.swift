import BFFNCore
import BFFNPack
import BFFNTestSupport
import Testing

/// A convert killed outright (SIGKILL after N bytes, injected with BFFN_FAULT_KILL_AFTER_BYTES) leaves the
/// previous file under the final name untouched and only a hidden temporary, which the next run of the same
/// command removes and reports; a disk-side failure is a clean error with its cause.
@Suite("faults", .serialized)
struct FaultInjectionTests {
    /// Runs bffn with `environment` prefixed; returns the raw `system` status.
    static func run(_ environment: String, _ args: [String], stderr: String) -> Int32 {
        ChildProcess.runShell("\(environment) \(shellQuoted([Fixtures.bffnBinary] + args)) > /dev/null 2> '\(stderr)'")
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
        let pid = ChildProcess.start(Fixtures.bffnBinary, arguments: args, discardingOutput: true)
        #expect(pid != nil)
        return pid ?? -1
    }

    /// Every other command that writes files, killed while writing: what was there survives byte for byte, and
    /// the next run of the same command finishes and leaves no temporary file.
    @Test(arguments: ["pack", "export", "synth"])
    func aKilledWriterOfAnyCommandLosesNothing(_ command: String) throws {
        let dir = TemporaryDirectory()
        let model = Fixtures.blockLinearReference
        #expect(try runBFFN(["convert", model, "-o", dir.file("m.bfpk"), "-q"]).status == 0)
        let (args, watched, folder): ([String], String, String) = switch command {
        case "pack": (["pack", model, "-o", dir.file("p.bfpk"), "--profile", "cpu", "--no-bench", "--force", "-q"], dir.file("p.bfpk"), dir.file(""))
        case "export": (["export", dir.file("m.bfpk"), "-o", dir.file("e"), "--force", "-q"], dir.file("e/model.safetensors"), dir.file("e"))
        default: (["synth", "--preset", "tiny", "--out", dir.file("s"), "--force", "-q", "--measure-tokens", "0"], dir.file("s/model.safetensors"), dir.file("s"))
        }
        let first = try runBFFN(args)
        #expect(first.status == 0, "\(first.stderr)")
        let previous = try Fixtures.bytes(watched)
        let status = Self.run("BFFN_FAULT_KILL_AFTER_BYTES=20000", args, stderr: dir.file("err"))
        #expect(status & 0x7F == SIGKILL || (status >> 8) & 0xFF == 128 + SIGKILL, "\(command): status \(status)")
        #expect(try Fixtures.bytes(watched) == previous)
        let name = String(watched.split(separator: "/").last!)
        #expect(Self.hiddenTemporaries(folder, name).count == 1, "\(command)")
        #expect(try runBFFN(args).status == 0)
        #expect(Self.hiddenTemporaries(folder, name).isEmpty, "\(command)")
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
            #expect(scheme == "q8" || scheme == "q4")   // the recipes the two runs name
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
        #expect(new.manifest["quantization"]?["scheme"] == "q4")
    }

    /// A write the file system refuses (here: the file-size limit, as a stand-in for a full disk) is a clean error
    /// with the system's reason and the byte offset; no output and no temporary file are left.
    /// ThreadSanitizer's runtime backs its own memory with files, which the file-size limit breaks (SIGBUS inside
    /// the runtime), so this test runs in normal and AddressSanitizer builds only.
    @Test(.enabled(if: getenv("TSAN_OPTIONS") == nil))
    func aRefusedWriteIsACleanErrorAndLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("m.bfpk"), err = dir.file("err")
        let status = Self.run("ulimit -f 40; trap '' XFSZ;", ["convert", Fixtures.blockLinearReference, "-o", out], stderr: err)
        #expect((status >> 8) & 0xFF == 1, "status \(status)")
        let message = String(decoding: try Fixtures.bytes(err), as: UTF8.self)
        #expect(message.contains("File too large") && message.contains("byte "), "\(message)")
        #expect(access(out, F_OK) != 0 && Self.hiddenTemporaries(dir.file(""), "m.bfpk").isEmpty)
    }
}

/// Inputs that declare huge sizes, deep nesting or long chains stay within a memory and time bound: `inspect
/// --check` of each, under a 1 GB virtual-memory limit (`ulimit -v`) and a 20-second timeout, ends with exit 0
/// or 1, never a crash, an out-of-memory death or a hang. The fuzz campaigns ran every target with a 2-4 GB
/// allocation and RSS limit; this keeps a bound on the command line too.
@Suite("bounded resources", .serialized)
struct BoundedResourceTests {
    @Test func hostileInputsStayWithinAGigabyteAndTwentySeconds() throws {
        let dir = TemporaryDirectory()
        var inputs: [String] = []
        // A safetensors header claiming 2^40 bytes; a shape of 2^64 elements; 100 000 nested lists in a pickle;
        // a zip directory claiming a million entries; a deflated entry claiming 2^40 bytes.
        var huge: [UInt8] = []
        huge.appendLE(UInt64(1) << 40)
        huge += Array("{}".utf8)
        inputs.append(try dir.write("huge-header.safetensors", huge))
        let header = Array(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#.utf8)
        var shape: [UInt8] = []
        shape.appendLE(UInt64(header.count))
        inputs.append(try dir.write("huge-shape.safetensors", shape + header + [0, 0, 0, 0]))
        var pickle = PickleBuilder()
        for _ in 0..<100_000 { pickle.op("]") ; pickle.op("(") }
        pickle.op(".")
        inputs.append(try dir.write("deep.bin", ZipBuilder(entries: [.init(name: "archive/data.pkl", data: pickle.bytes)]).build()))
        var claims = ZipBuilder(entries: [.init(name: "archive/data.pkl", data: [0x80, 2, 0x7D, 0x2E])]).build()
        // The end record's entry counts (offsets 8 and 10 from its start, 22 bytes from the end) set to 65535.
        claims[claims.count - 22 + 8] = 0xFF; claims[claims.count - 22 + 9] = 0xFF
        claims[claims.count - 22 + 10] = 0xFF; claims[claims.count - 22 + 11] = 0xFF
        inputs.append(try dir.write("claims.bin", claims))
        inputs.append(try dir.write("bomb.bin", ZipBuilder(entries: [.init(name: "archive/data.pkl", data: Array(repeating: 0, count: 4096),
                                                                           deflate: true, sizeOverride: UInt64(1) << 40)]).build()))
        for input in inputs {
            let err = dir.file("err")
            let command = shellQuoted([Fixtures.bffnBinary, "inspect", input, "--check"])
            // Under scripts/sanitize.sh the binary is instrumented and reserves terabytes of shadow address space,
            // so the virtual-memory limit applies to normal builds only (the time bound always).
            let sanitized = getenv("ASAN_OPTIONS") != nil || getenv("TSAN_OPTIONS") != nil
            let status = ChildProcess.runShell("\(sanitized ? "" : "ulimit -v 1000000;") timeout 20 \(command) > /dev/null 2> '\(err)'")
            let code = (status >> 8) & 0xFF
            let message = String(decoding: (try? Fixtures.bytes(err)) ?? [], as: UTF8.self)
            #expect(status & 0x7F == 0 && (code == 0 || code == 1), "\(input): status \(status): \(message)")
        }
    }
}
