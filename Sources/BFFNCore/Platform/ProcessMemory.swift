/// What this process holds in memory: Linux reads /proc/self files and `getrusage`; Darwin has `getrusage`
/// only (mapping residency returns nil there).
public enum ProcessMemory {
    /// Tunes glibc's allocator for inference: blocks under 64 MiB come from the heap and up to 128 MiB of freed heap
    /// stays with the process, so the buffers a forward pass allocates and frees once a layer (a prompt's
    /// activations, 200 KB and up, passed glibc's default 128 KiB mapping threshold) are reused instead of being
    /// mapped, faulted in and zeroed again every time. On synth Small q4 with 2 threads prefill rose from 888-949 to
    /// 1 165-1 207 tok/s; peak RSS unchanged. The `bffn` command calls it at start; a program embedding the engine
    /// may. Does nothing (returns false) where MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set, the C
    /// library is not glibc (musl, Darwin), or another allocator (a sanitizer's) refuses the settings
    /// (`AllocatorTuning`).
    @discardableResult
    public static func keepFreedBuffers() -> Bool {
        AllocatorTuning.keepFreedBuffers(mmapThresholdBytes: 64 << 20, retainedFreeBytes: 128 << 20)
    }

    /// Whether `residentBytes(ofMappingsOf:)` can answer here (Linux with /proc mounted).
    public static var measuresMappings: Bool {
        #if os(Linux)
        return access("/proc/self/smaps", R_OK) == 0
        #else
        return false
        #endif
    }

    /// Resident bytes of this process's mappings of the file at `path` (Linux: the sum of `Rss:` over its entries
    /// in /proc/self/smaps): the pages of that file actually in this process's memory. Nil where /proc is missing
    /// or the path does not resolve, and always on Darwin, which has no cheap per-file answer.
    public static func residentBytes(ofMappingsOf path: String) -> UInt64? {
        #if os(Linux)
        guard let real = realPath(path), let text = read("/proc/self/smaps") else { return nil }
        var total: UInt64 = 0, inMapping = false
        for line in text.split(separator: "\n") {
            if let first = line.first, first.isHexDigit, line.contains("-") {
                // A mapping header: "start-end perms offset dev inode path".
                inMapping = line.hasSuffix(" " + real)
            } else if inMapping, line.hasPrefix("Rss:") {
                let kb = line.dropFirst(4).split(separator: " ").first.flatMap { UInt64($0) } ?? 0
                total += kb * 1024
            }
        }
        return total
        #else
        _ = path
        return nil
        #endif
    }

    /// The most memory this process has held resident so far, in bytes (`getrusage`'s `ru_maxrss`, which Linux
    /// counts in KiB and Darwin in bytes); 0 when the call fails.
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if canImport(Glibc)
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
        #endif
        #if os(Linux)
        return Int(usage.ru_maxrss) * 1024
        #else
        return Int(usage.ru_maxrss)
        #endif
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { CLibrary.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
            if out.count > 64 << 20 { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
