import CBlockFFNSystem

/// Starting the write of a file's dirty pages to disk early, so a later `fsync` has less left to do.
public enum WriteBack {
    /// Starts writing `length` bytes from `offset` (both in bytes) of the file open for writing as `fd` to the
    /// disk, without waiting (Linux `sync_file_range` with `SYNC_FILE_RANGE_WRITE`). Returns true when the writes
    /// were started; false where the call failed or the platform has none (Darwin: nothing is done, and the
    /// final `fsync` does all the work). Only a hint: errors surface at `fsync`. Throws nothing.
    @discardableResult
    public static func start(fd: Int32, offset: UInt64, length: UInt64) -> Bool {
        bffn_start_writeback(fd, Int64(offset), Int64(length)) == 1
    }
}
