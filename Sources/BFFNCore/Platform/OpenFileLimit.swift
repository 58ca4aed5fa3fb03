/// How many files (descriptors: files, sockets, pipes) this process may have open: `RLIMIT_NOFILE`. A server that
/// caps its connections raises the soft limit to fit the cap (`bffn serve --max-connections`).
public enum OpenFileLimit {
    /// The soft and hard limits; `Int.max` stands for unlimited (`RLIM_INFINITY`, above `Int.max` on Linux and equal
    /// to it on Darwin). Nil when `getrlimit` fails.
    public static var current: (soft: Int, hard: Int)? {
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return nil }
        return (value(limits.rlim_cur), value(limits.rlim_max))
    }

    /// Raises the soft limit to at least `needed` as far as the hard limit allows (never lowers it) and returns the
    /// soft limit then in force, or nil when the limits cannot be read.
    public static func raise(to needed: Int) -> Int? {
        guard let (soft, hard) = current else { return nil }
        if soft >= needed { return soft }
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return nil }
        limits.rlim_cur = hard >= needed ? rlim_t(needed) : limits.rlim_max
        guard setrlimit(resource, &limits) == 0 else { return soft }
        return current?.soft ?? soft
    }

    // glibc declares the resource as its enum __rlimit_resource; musl and Darwin as an Int32 macro.
    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif

    private static func value(_ v: rlim_t) -> Int { v >= rlim_t(Int.max) ? Int.max : Int(v) }
}
