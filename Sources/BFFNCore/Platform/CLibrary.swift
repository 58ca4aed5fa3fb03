// The platform layer: every call whose spelling or existence depends on the operating system lives in this
// folder (one small type per concern) or in the C shim it calls (Sources/CBlockFFNSystem), each with a Linux
// and a Darwin branch. Nothing else in Sources names a Linux-only symbol; RepositoryTests checks that.
//
// The C library itself is imported here, once, and re-exported: a file that imports BFFNCore (every module
// depends on it) sees `open`, `pread`, `mmap`, `errno`, `sqrt`, ... from glibc or musl on Linux and from Darwin's
// libSystem on macOS, without importing a platform module of its own.
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#elseif canImport(Darwin)
@_exported import Darwin
#else
#error("bffn needs a POSIX C library: glibc or musl (Linux), or Darwin's")
#endif

/// The C library's unbuffered `read` and `write`, for code inside types that have `read` or `write` methods of
/// their own (where an unqualified call finds the method), without naming the platform's module (`Glibc.write`
/// does not exist on Darwin).
public enum CLibrary {
    /// `read(2)`: reads up to `count` bytes from the descriptor `fd` into `buffer`. Returns the number of bytes
    /// read, 0 at the end of the file, or -1 with `errno` set. Throws nothing.
    @inlinable
    public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(fd, buffer, count)
        #elseif canImport(Musl)
        Musl.read(fd, buffer, count)
        #else
        Darwin.read(fd, buffer, count)
        #endif
    }

    /// `write(2)`: writes up to `count` bytes from `bytes` to the descriptor `fd`. Returns the number of bytes
    /// written (possibly fewer than `count`), or -1 with `errno` set. Throws nothing.
    @inlinable
    public static func write(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, bytes, count)
        #elseif canImport(Musl)
        Musl.write(fd, bytes, count)
        #else
        Darwin.write(fd, bytes, count)
        #endif
    }
}
