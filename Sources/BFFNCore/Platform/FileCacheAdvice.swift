/// Advice to the kernel about a file's pages in the page cache (not about a mapping of it: see `MemoryAdvice`).
public enum FileCacheAdvice {
    /// Asks the kernel to drop the cached pages of `length` bytes from `offset` of the file open as `fd`
    /// (`length` 0: to the end of the file): Linux `posix_fadvise(POSIX_FADV_DONTNEED)`, which drops clean pages
    /// only. Returns true when the advice was given; false when the call failed or the platform has no
    /// equivalent (Darwin: the pages stay cached, so a "cold" read there may still be served from memory). Only
    /// a hint. Throws nothing.
    @discardableResult
    public static func dropCachedPages(of fd: Int32, offset: Int64 = 0, length: Int64 = 0) -> Bool {
        #if os(Linux)
        return posix_fadvise(fd, off_t(offset), off_t(length), POSIX_FADV_DONTNEED) == 0
        #else
        _ = (fd, offset, length)
        return false
        #endif
    }
}
