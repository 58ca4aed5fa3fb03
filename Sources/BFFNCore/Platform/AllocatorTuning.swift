import CBlockFFNSystem

/// Settings of the C library's `malloc`. Only glibc has the knobs (`mallopt`); on musl and Darwin the calls
/// here change nothing and say so.
public enum AllocatorTuning {
    /// Whether the C library has the settings `keepFreedBuffers` makes (glibc: true; musl and Darwin: false).
    public static var isAvailable: Bool {
        #if canImport(Glibc)
        return true
        #else
        return false
        #endif
    }

    /// glibc: blocks below `mmapThresholdBytes` come from the heap instead of a mapping of their own
    /// (`mallopt(M_MMAP_THRESHOLD)`), and up to `retainedFreeBytes` of free heap stay with the process instead of
    /// going back to the kernel (`M_TRIM_THRESHOLD`), so buffers allocated and freed again and again are reused
    /// instead of being mapped, faulted in and zeroed each time. Both are in bytes and must fit an `Int32`.
    /// Returns true when both were set; false, changing nothing, where the user set `MALLOC_MMAP_THRESHOLD_` or
    /// `MALLOC_TRIM_THRESHOLD_`, the C library is not glibc (musl, Darwin), or another allocator (a
    /// sanitizer's) refuses them. Throws nothing.
    @discardableResult
    public static func keepFreedBuffers(mmapThresholdBytes: Int, retainedFreeBytes: Int) -> Bool {
        bffn_keep_freed_buffers(mmapThresholdBytes, retainedFreeBytes) == 1
    }
}
