/// Linux's /proc file system, where the Swift runtime on Linux finds the command line (through /proc/self/maps)
/// and `ProcessMemory` finds what is resident.
public enum ProcFileSystem {
    /// Whether this process runs on Linux without a readable /proc/self/maps (a chroot or container that has not
    /// mounted /proc). Always false on Darwin, which has no /proc and whose runtime does not need one.
    public static var isMissing: Bool {
        #if os(Linux)
        return access("/proc/self/maps", R_OK) != 0
        #else
        return false
        #endif
    }
}
