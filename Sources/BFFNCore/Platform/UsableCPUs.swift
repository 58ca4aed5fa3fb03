import CBlockFFNSystem

/// How many CPUs this process may run on: the default thread count of every command.
public enum UsableCPUs {
    /// The CPUs this process may use, at least 1. Linux: those of its affinity mask (what `taskset` or a
    /// container's cpuset leaves it). Darwin: `sysctlbyname("hw.activecpu")` (macOS has no affinity masks).
    /// Elsewhere, or when those fail: the online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`). Asked anew on every read.
    public static var count: Int { Int(bffn_usable_cpus()) }
}
