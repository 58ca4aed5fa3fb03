import CBlockFFNSystem

/// Reads that bypass the page cache, so a large file read once (a pack's expert blocks under a memory budget)
/// does not fill memory with pages nobody reads again: Linux opens the file with `O_DIRECT`, Darwin sets
/// `F_NOCACHE` on an ordinary descriptor.
public enum UncachedReads {
    /// The alignment, in bytes, that the file offsets, lengths and buffer addresses of uncached reads must have.
    /// `O_DIRECT` needs the device's logical block (4096 covers every common device); `F_NOCACHE` needs none, but
    /// callers align anyway so one code path serves both.
    public static let alignment = 4096

    /// Opens `path` read-only (close-on-exec) for uncached reads. Returns the descriptor, which the caller
    /// closes with `close`; or nil, with `errno` set, where the file system refuses (Linux tmpfs has no
    /// `O_DIRECT`), the file cannot be opened, or the platform has no uncached reads: callers then open the file
    /// normally. Throws nothing.
    public static func open(_ path: String) -> Int32? {
        let fd = bffn_open_uncached(path)
        return fd >= 0 ? fd : nil
    }
}
