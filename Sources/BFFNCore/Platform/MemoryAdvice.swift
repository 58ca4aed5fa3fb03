/// Advice to the kernel about a range of this process's memory (`madvise`). Every call is only a hint: the
/// memory stays valid and readable whatever the kernel does. Each takes the range's start, which must be
/// page-aligned (`sysconf(_SC_PAGESIZE)`: 4 KiB on x86-64, 16 KiB on Apple silicon), and its length in bytes;
/// each returns true when the kernel accepted the advice and false when it refused or the platform has no such
/// advice. None throws.
public enum MemoryAdvice {
    /// The range will be read front to back (`MADV_SEQUENTIAL`: read ahead more, drop behind). Linux and Darwin.
    @discardableResult
    public static func sequential(_ start: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        madvise(start, byteCount, MADV_SEQUENTIAL) == 0
    }

    /// The range will be read soon (`MADV_WILLNEED`: start reading it in now). Linux and Darwin.
    @discardableResult
    public static func willNeed(_ start: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        madvise(start, byteCount, MADV_WILLNEED) == 0
    }

    /// The range's pages are not needed now (`MADV_DONTNEED`). Linux drops them from this process at once (a
    /// file mapping's bytes fault back from the page cache when touched; anonymous private memory reads back as
    /// zeros). Darwin only lowers their priority, so resident memory falls later or not at all; for the read-only
    /// file mappings this is used on, the bytes read the same either way.
    @discardableResult
    public static func dontNeed(_ start: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        madvise(start, byteCount, MADV_DONTNEED) == 0
    }

    /// Back the range with huge pages where the kernel grants them (Linux `MADV_HUGEPAGE`, transparent huge
    /// pages: 2 MiB on x86-64). Ask before the first write. Darwin has no such advice: false.
    @discardableResult
    public static func hugePages(_ start: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        #if os(Linux)
        return madvise(start, byteCount, MADV_HUGEPAGE) == 0
        #else
        _ = (start, byteCount)
        return false
        #endif
    }

    /// Never back the range with huge pages (Linux `MADV_NOHUGEPAGE`), so touching the bytes beside it cannot
    /// bring it in as part of a huge page. Darwin has no such advice (nor huge pages for file mappings): false.
    @discardableResult
    public static func noHugePages(_ start: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        #if os(Linux)
        return madvise(start, byteCount, MADV_NOHUGEPAGE) == 0
        #else
        _ = (start, byteCount)
        return false
        #endif
    }
}
