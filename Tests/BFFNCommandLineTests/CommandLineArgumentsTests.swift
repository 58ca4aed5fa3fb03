@testable import bffn
@testable import BFFNCore
import BFFNTestSupport
import Testing

/// The command line without /proc: on Linux the Swift runtime finds argv through /proc/self/maps, and without it
/// `CommandLine.arguments` is empty (bffn used to print the top-level help for `bffn inspect MODEL`, exit 0).
@Suite("command line without /proc", .serialized)
struct CommandLineArgumentsTests {
    /// A process's initial stack as the kernel lays it out: argc, argv[], NULL, envp[], NULL, then the strings
    /// (argv's, then the environment's) above the arrays. Calls `body` with envp and argv[0]'s address.
    func withInitialStack<R>(arguments: [String], environment: [String], argcWord: UInt? = nil,
                             _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<CChar>) -> R) -> R {
        let wordCount = 1 + arguments.count + 1 + environment.count + 1
        let stringBytes = (arguments + environment).reduce(0) { $0 + $1.utf8.count + 1 }
        let size = wordCount * 8 + stringBytes
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { raw.deallocate() }
        let words = raw.bindMemory(to: UInt.self, capacity: wordCount)
        var string = raw + wordCount * 8
        var addresses: [UInt] = []
        for s in arguments + environment {
            let bytes = Array(s.utf8) + [0]
            bytes.withUnsafeBytes { string.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            addresses.append(UInt(bitPattern: string))
            string += bytes.count
        }
        words[0] = argcWord ?? UInt(arguments.count)
        for i in 0..<arguments.count { words[1 + i] = addresses[i] }
        words[1 + arguments.count] = 0
        let envStart = 2 + arguments.count
        for i in 0..<environment.count { words[envStart + i] = addresses[arguments.count + i] }
        words[envStart + environment.count] = 0
        let envp = UnsafeRawPointer(words + envStart).assumingMemoryBound(to: UnsafeMutablePointer<CChar>?.self)
        let programName = UnsafePointer<CChar>(bitPattern: addresses[0])!
        return body(envp, programName)
    }

    func strings(_ found: (argc: Int, argv: UnsafePointer<UnsafeMutablePointer<CChar>?>)?) -> [String]? {
        found.map { f in (0..<f.argc).map { String(cString: f.argv[$0]!) } }
    }

    @Test func findsTheArgumentVectorBelowTheEnvironment() {
        let args = ["/opt/bffn/bin/bffn", "inspect", "/model", "--json", ""]
        let found = withInitialStack(arguments: args, environment: ["PATH=/usr/bin:/bin", "HOME=/root"]) {
            strings(ProcessArguments.argumentVector(below: $0, programName: $1))
        }
        #expect(found == args)
    }

    @Test func findsItWithAnEmptyEnvironmentAndOneArgument() {
        let found = withInitialStack(arguments: ["bffn"], environment: []) {
            strings(ProcessArguments.argumentVector(below: $0, programName: $1))
        }
        #expect(found == ["bffn"])
    }

    @Test func refusesWhatDoesNotMatch() {
        // argv[0] is not the program name glibc recorded.
        let otherName = withInitialStack(arguments: ["bffn", "inspect"], environment: ["A=1"]) { envp, name in
            ProcessArguments.argumentVector(below: envp, programName: name + 1)
        }
        #expect(otherName == nil)
        // The word below argv is not the count (environ does not point at the kernel's block).
        let wrongCount = withInitialStack(arguments: ["bffn", "inspect"], environment: ["A=1"], argcWord: 7) {
            ProcessArguments.argumentVector(below: $0, programName: $1)
        }
        #expect(wrongCount == nil)
        // No NULL before envp: not an argument vector at all.
        let noTerminator = withInitialStack(arguments: ["bffn", "inspect"], environment: ["A=1", "B=2"]) { envp, name in
            ProcessArguments.argumentVector(below: envp + 1, programName: name)
        }
        #expect(noTerminator == nil)
    }

    /// This test process's own stack gives what the runtime read through /proc (unless something moved `environ`
    /// to the heap before the tests ran, which the walk must then refuse rather than misread).
    @Test func theRealStackGivesTheRuntimesArguments() {
        if let found = ProcessArguments.fromInitialStack() {
            #expect(found == CommandLine.arguments)
        }
    }

    @Test func theMessageSaysWhy() {
        let message = CommandLineArguments.unavailableMessage(procMounted: false)
        #expect(message.hasPrefix("bffn: cannot read the command line: /proc is not mounted"))
        #expect(message.contains("mount -t proc proc /proc"))
        #expect(CommandLineArguments.unavailableMessage(procMounted: true).hasPrefix("bffn: cannot read the command line"))
    }

    /// The binary with /proc hidden (an empty tmpfs over it, in a private mount namespace: root, or an unprivileged
    /// user namespace) still sees its arguments. Skipped where neither is allowed.
    @Test func theBinarySeesItsArgumentsWithoutProc() throws {
        let hideProc = "mount -t tmpfs none /proc"
        guard let unshare = ["unshare -m", "unshare -rm"].first(where: { system("\($0) sh -c '\(hideProc)' >/dev/null 2>&1") == 0 })
        else { return }
        let inner = shellQuoted([Fixtures.bffnBinary, "inspect", Fixtures.blockLinearReference, "--json"])
        let r = try runShell("\(unshare) sh -c \(shellQuoted(["\(hideProc) && test ! -e /proc/self && exec \(inner)"]))")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"num_experts\""), "\(r.stdout.prefix(300))")
        #expect(!r.stdout.contains("OVERVIEW"))
    }
}

/// Runs a shell command line and captures stdout, stderr and the exit status.
private func runShell(_ command: String) throws -> (status: Int32, stdout: String, stderr: String) {
    let dir = TemporaryDirectory()
    let out = dir.file("out"), err = dir.file("err")
    let status = system("\(command) > '\(out)' 2> '\(err)'")
    return ((status >> 8) & 0xFF, String(decoding: try Fixtures.bytes(out), as: UTF8.self), String(decoding: try Fixtures.bytes(err), as: UTF8.self))
}
