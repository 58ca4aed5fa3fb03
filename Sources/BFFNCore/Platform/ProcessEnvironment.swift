import CBlockFFNSystem

/// This process's environment variables (Linux `environ`; Darwin, where Swift cannot see `environ`,
/// `_NSGetEnviron`).
public enum ProcessEnvironment {
    /// The C array of "NAME=value" strings, a null pointer last, as `posix_spawn` takes it. Valid until the
    /// environment is next changed (`setenv`, `unsetenv`).
    public static var cArray: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> { bffn_environment() }

    /// The environment as a dictionary, NAME → value (an entry without "=" is left out).
    public static var variables: [String: String] {
        var out: [String: String] = [:]
        var p = cArray
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}
