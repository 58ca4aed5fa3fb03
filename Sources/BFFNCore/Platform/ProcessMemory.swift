import CBlockFFNSystem
#if canImport(Glibc)
import Glibc
#endif

/// What this process holds in memory, from Linux's /proc/self files.
public enum ProcessMemory {
    /// Tunes glibc's allocator for inference: blocks under 64 MiB come from the heap and up to 128 MiB of freed heap
    /// stays with the process, so the buffers a forward pass allocates and frees once a layer (a prompt's
    /// activations, 200 KB and up, passed glibc's default 128 KiB mapping threshold) are reused instead of being
    /// mapped, faulted in and zeroed again every time. On synth Small q4 with 2 threads prefill rose from 888-949 to
    /// 1 165-1 207 tok/s; peak RSS unchanged. The `bffn` command calls it at start; a program embedding the engine
    /// may. Does nothing (returns false) where MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set, the C
    /// library is not glibc, or another allocator (a sanitizer's) refuses the settings.
    @discardableResult
    public static func keepFreedBuffers() -> Bool { bffn_keep_freed_buffers(64 << 20, 128 << 20) == 1 }

    /// Resident bytes of this process's mappings of the file at `path` (the sum of `Rss:` over its entries in
    /// /proc/self/smaps): the pages of that file actually in this process's memory. Nil where /proc is missing.
    public static func residentBytes(ofMappingsOf path: String) -> UInt64? {
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
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
            if out.count > 64 << 20 { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
