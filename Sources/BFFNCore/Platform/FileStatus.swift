extension stat {
    /// The last modification time of the file, in whole seconds since 1970 (`st_mtim` on Linux, `st_mtimespec` on
    /// Darwin).
    public var modificationSeconds: Int {
        #if os(Linux)
        Int(st_mtim.tv_sec)
        #else
        Int(st_mtimespec.tv_sec)
        #endif
    }
}
