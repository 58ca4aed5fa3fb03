import BFFNCore
import BFFNTestSupport
import Testing

/// The platform layer's rule: every call whose spelling or existence depends on the operating system is made in
/// Sources/BFFNCore/Platform or the C shim it calls (Sources/CBlockFFNSystem), which have a Darwin branch for each;
/// the rest of Sources names no Linux-only symbol and imports no C library module (BFFNCore re-exports it), so
/// a port to another system starts and ends in those two folders.
@Suite("platform layer")
struct PlatformLayerTests {
    /// The folders that may name anything below.
    static let platformFolders = ["Sources/BFFNCore/Platform/", "Sources/CBlockFFNSystem/"]
    /// Folders that may also use the symbols of `cpuFeatureSymbols`: the C kernels choose their instruction set at
    /// run time from the CPU's feature bits, which Linux on ARM reports through the auxiliary vector.
    static let cpuFeatureFolders = ["Sources/CBlockFFNIntDot/", "Sources/CBlockFFNBF16Dot/"]
    static let cpuFeatureSymbols: Set<String> = ["getauxval", "AT_HWCAP", "AT_HWCAP2"]

    /// Identifiers that exist only on Linux (or only in glibc), or whose spelling or meaning differs on Darwin,
    /// matched as whole words in code (not in comments or string literals).
    static let symbols: Set<String> = [
        // Uncached reads, file and memory advice, write-back (UncachedReads, FileCacheAdvice, MemoryAdvice, WriteBack).
        "O_DIRECT", "posix_fadvise", "MADV_HUGEPAGE", "MADV_NOHUGEPAGE", "sync_file_range",
        // CPUs and the allocator (UsableCPUs, AllocatorTuning).
        "sched_getaffinity", "sched_setaffinity", "CPU_COUNT", "cpu_set_t", "mallopt", "M_MMAP_THRESHOLD",
        "M_TRIM_THRESHOLD", "malloc_trim", "malloc_usable_size",
        // Process facts (ProcessMemory, ProcessEnvironment, Threads, ChildProcess, FileStatus).
        "ru_maxrss", "environ", "program_invocation_name", "pthread_create", "posix_spawn", "posix_spawn_file_actions_t",
        "st_mtim", "st_atim", "st_ctim", "system",
        // Linux-only calls with no Darwin counterpart of the same name.
        "getauxval", "mremap", "MAP_POPULATE", "fallocate", "posix_fallocate", "getrandom", "memfd_create",
        "O_TMPFILE", "gettid", "prctl", "epoll_create1", "eventfd", "signalfd", "inotify_init1",
    ]
    /// Identifier prefixes with the same rule.
    static let symbolPrefixes = ["POSIX_FADV_", "SYNC_FILE_RANGE_", "MADV_HUGE", "MADV_NOHUGE"]
    /// C library modules: imported once, in the platform layer.
    static let libraryModules: Set<String> = ["Glibc", "Musl", "Darwin"]
    /// Linux-only file systems: a string literal that starts with one of these and has no spaces is a path into
    /// them (a message that mentions one is not).
    static let linuxPaths = ["/proc/", "/sys/"]

    @Test func linuxOnlySymbolsStayInThePlatformLayer() throws {
        var offenders: [String] = []
        let root = Fixtures.repositoryRoot + "/"
        let files = RepositoryTests.files(under: "Sources", endingWith: [".swift", ".c", ".h", ".cpp"])
        #expect(files.count > 50 && files.contains { $0.hasSuffix("Platform/CLibrary.swift") })
        for file in files {
            let relative = String(file.dropFirst(root.count))
            if Self.platformFolders.contains(where: { relative.hasPrefix($0) }) { continue }
            let cpuFeatures = Self.cpuFeatureFolders.contains { relative.hasPrefix($0) }
            let source = SourceText(try RepositoryTests.text(file), c: !file.hasSuffix(".swift"))
            for (line, word, before, after) in source.words() {
                let named = Self.symbols.contains(word) || Self.symbolPrefixes.contains { word.hasPrefix($0) }
                // `x.system(...)` is a method of ours, and `system` alone a name; the C call is `system(`.
                if word == "system" && (before == "." || after != "(") { continue }
                if named && !(cpuFeatures && Self.cpuFeatureSymbols.contains(word)) {
                    offenders.append("\(relative):\(line): \(word)")
                }
                if Self.libraryModules.contains(word) && (after == "." || source.isImport(line: line)) {
                    offenders.append("\(relative):\(line): \(word) (the C library comes from BFFNCore)")
                }
            }
            for (line, text) in source.strings {
                for path in Self.linuxPaths where text.hasPrefix(path) && !text.contains(" ") { offenders.append("\(relative):\(line): \(text)") }
            }
        }
        #expect(offenders.isEmpty, "Linux-only calls outside Sources/BFFNCore/Platform and Sources/CBlockFFNSystem (give them a platform type with a Darwin branch): \(offenders)")
    }

    /// The scanner itself: comments and strings are told apart from code.
    @Test func theScannerSeesCodeOnly() {
        let swift = SourceText("""
            // O_DIRECT in a comment, /* and */ inside it
            let a = "O_DIRECT in a string /proc/self/maps" /* posix_fadvise */ + #"mallopt "quoted""#
            let b = x.system(1) + system + "\\(flag ? "O_DIRECT" : "/proc/1") posix_fadvise"
            let c = \"""
                sync_file_range in a multi-line string
                \"""
            _ = Glibc.write(1, nil, 0); import Darwin
            _ = sched_getaffinity(0)
            """, c: false)
        let words = swift.words().map(\.word)
        #expect(!words.contains("O_DIRECT") && !words.contains("posix_fadvise") && !words.contains("mallopt") && !words.contains("sync_file_range"))
        #expect(words.contains("sched_getaffinity") && words.contains("Glibc") && words.contains("system"))
        #expect(swift.strings.contains { $0.text.contains("/proc/self/maps") } && swift.isImport(line: 7) && !swift.isImport(line: 8))
        let c = SourceText("char q = '\"'; /* O_DIRECT */ int fd = open(p, O_DIRECT); // mallopt\n", c: true)
        #expect(c.words().map(\.word).contains("O_DIRECT") && !c.words().map(\.word).contains("mallopt"))
    }
}

/// A Swift or C source split into code, string literals and comments (comments dropped), by line.
struct SourceText {
    /// The code of each line (1-based), with comments and the insides of string literals removed.
    private(set) var codeLines: [(line: Int, text: String)] = []
    /// The contents of each string literal, with the line it starts on.
    private(set) var strings: [(line: Int, text: String)] = []

    init(_ text: String, c: Bool) {
        let s = Array(text.unicodeScalars)
        var i = 0, line = 1, code = ""
        func at(_ k: Int, _ literal: String) -> Bool {
            var j = k
            for u in literal.unicodeScalars {
                guard j < s.count, s[j] == u else { return false }
                j += 1
            }
            return true
        }
        func endLine() { codeLines.append((line, code)); code = ""; line += 1 }
        /// Reads a string literal's contents from `k` (just past its opening quote) to its `close`; returns the
        /// index past the close. Escapes are kept; an interpolation `\(...)` is read with the strings inside it.
        func literal(from k: Int, close: String, escape: String, multiLine: Bool, into contents: inout String) -> Int {
            var k = k
            while k < s.count && !at(k, close) {
                if !multiLine && s[k] == "\n" { return k }   // unterminated: leave the line to the code
                if s[k] == "\n" { endLine() }
                if !c && at(k, escape + "(") {
                    k += escape.unicodeScalars.count + 1
                    var depth = 1
                    while k < s.count && depth > 0 {
                        if s[k] == "(" { depth += 1 } else if s[k] == ")" { depth -= 1 }
                        if s[k] == "\"" {
                            k = literal(from: k + 1, close: "\"", escape: "\\", multiLine: false, into: &contents)
                            continue
                        }
                        if s[k] == "\n" { endLine() }
                        if depth > 0 { contents.unicodeScalars.append(s[k]) }
                        k += 1
                    }
                    continue
                }
                if at(k, escape) && k + escape.unicodeScalars.count < s.count {
                    let n = escape.unicodeScalars.count
                    contents.unicodeScalars.append(contentsOf: s[k...(k + n)])
                    if s[k + n] == "\n" { endLine() }
                    k += n + 1
                    continue
                }
                contents.unicodeScalars.append(s[k])
                k += 1
            }
            return min(s.count, k + close.unicodeScalars.count)
        }
        while i < s.count {
            let ch = s[i]
            if ch == "\n" { endLine(); i += 1; continue }
            if at(i, "//") {
                while i < s.count && s[i] != "\n" { i += 1 }
                continue
            }
            if at(i, "/*") {   // Swift nests block comments; C does not, and never writes "/*" inside one
                var depth = 0
                repeat {
                    if at(i, "/*") { depth += 1; i += 2 } else if at(i, "*/") { depth -= 1; i += 2 } else {
                        if s[i] == "\n" { endLine() }
                        i += 1
                    }
                } while depth > 0 && i < s.count
                code += " "
                continue
            }
            // A string literal: "...", """...""", #"..."# (any number of #), or in C a '...' character.
            var hashes = 0
            while !c && i + hashes < s.count && s[i + hashes] == "#" { hashes += 1 }
            let quoteAt = i + hashes
            if quoteAt < s.count && (s[quoteAt] == "\"" || (c && s[quoteAt] == "'")) {
                let pad = String(repeating: "#", count: hashes)
                let multiLine = !c && at(quoteAt, "\"\"\"")
                let close = (multiLine ? "\"\"\"" : String(s[quoteAt])) + pad
                let start = line
                var contents = ""
                i = literal(from: quoteAt + (multiLine ? 3 : 1), close: close, escape: "\\" + pad, multiLine: multiLine, into: &contents)
                strings.append((start, contents))
                code += "\"\""
                continue
            }
            code.unicodeScalars.append(ch)
            i += 1
        }
        codeLines.append((line, code))
    }

    /// Every identifier in the code, with its line and the characters just before and after it (space-skipped).
    func words() -> [(line: Int, word: String, before: Character?, after: Character?)] {
        var out: [(Int, String, Character?, Character?)] = []
        for (line, text) in codeLines {
            let chars = Array(text)
            var i = 0
            while i < chars.count {
                guard chars[i].isLetter || chars[i] == "_" else { i += 1; continue }
                var j = i
                while j < chars.count && (chars[j].isLetter || chars[j].isNumber || chars[j] == "_") { j += 1 }
                var b = i - 1, a = j
                while b >= 0 && chars[b] == " " { b -= 1 }
                while a < chars.count && chars[a] == " " { a += 1 }
                out.append((line, String(chars[i..<j]), b >= 0 ? chars[b] : nil, a < chars.count ? chars[a] : nil))
                i = j
            }
        }
        return out
    }

    /// Whether the code of `line` is an import declaration (`import X`, `@_exported import X`, `import struct X.Y`).
    func isImport(line: Int) -> Bool {
        guard let text = codeLines.first(where: { $0.line == line })?.text else { return false }
        let words = text.split(whereSeparator: { $0 == " " || $0 == ";" })
        return words.contains("import")
    }
}
