/// A whole file mapped read-only into memory (`mmap` with `PROT_READ`, `MAP_PRIVATE`).
///
/// The mapping lives as long as the object; views into it (`bytes`) must not outlive it, so types that hand
/// out views keep a reference to their `MappedFile`. An empty file maps to an empty buffer without calling
/// `mmap`. Pages are read from disk only when touched, so opening a multi-GB file costs nothing.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The mapped bytes, `size` long.
    public let bytes: UnsafeRawBufferPointer
    /// The file size in bytes.
    public var size: Int { bytes.count }

    /// The offset of `pointer` in this mapping, or nil when it lies outside.
    public func offset(of pointer: UnsafeRawPointer) -> Int? {
        guard let base = bytes.baseAddress, pointer >= base, pointer < base + bytes.count else { return nil }
        return pointer - base
    }

    /// Opens and maps `path`.
    /// - Throws: `BFFNError.io` naming the path and the system error when open, fstat or mmap fail, or when
    ///   the path is a directory.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw BFFNError(.io, "cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw BFFNError(.io, "cannot stat: \(String(cString: strerror(errno)))", file: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw BFFNError(.io, "not a regular file", file: path)
        }
        let length = Int(info.st_size)
        if length == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw BFFNError(.io, "cannot map: \(String(cString: strerror(errno)))", file: path)
        }
        bytes = UnsafeRawBufferPointer(start: address, count: length)
    }

    /// Runs `body` with the mapped bytes, keeping the mapping alive until it returns. Prefer this over
    /// `bytes` when the `MappedFile` is a temporary: Swift may release an object right after its last use.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body(bytes) }
    }

    /// A copy of the whole file.
    public var contents: [UInt8] { withBytes { Array($0) } }

    /// Drops the resident pages around `offset ..< offset + count`, rounded out to 2 MiB (the largest piece in
    /// which the kernel maps a file's page cache: a touched byte can make a whole huge page resident), with
    /// `madvise(MADV_DONTNEED)`; the bytes stay readable and fault back from the page cache when touched. Readers
    /// call this after reading a small header somewhere in a large file. Purely a hint: errors are ignored.
    public func releaseResidentPages(around offset: Int, count: Int) {
        guard let base = bytes.baseAddress, offset >= 0, count > 0, offset < bytes.count else { return }
        let huge = 2 << 20
        let mapped = Int(bitPattern: base)
        let start = max(mapped, (mapped + offset) / huge * huge)
        let end = min(mapped + bytes.count, (mapped + min(bytes.count, offset + count) + huge - 1) / huge * huge)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let alignedStart = start / page * page   // the mapping starts page-aligned, so this stays inside it
        guard end > alignedStart, let p = UnsafeMutableRawPointer(bitPattern: alignedStart) else { return }
        MemoryAdvice.dontNeed(p, byteCount: end - alignedStart)
    }

    /// Drops the resident pages wholly inside `offset ..< offset + count` for the rest of this mapping's life
    /// unless that range itself is read again: `madvise(MADV_NOHUGEPAGE)` on the range first, so a touch of the
    /// bytes beside it can no longer map a 2 MiB page cache folio that reaches into it, then
    /// `madvise(MADV_DONTNEED)`. For a tensor that was read once and copied. Purely a hint: errors are ignored.
    public func releaseRange(offset: Int, count: Int) {
        guard let base = bytes.baseAddress, offset >= 0, count > 0, offset + count <= bytes.count,
              let (p, length) = wholePages(base + offset, count: count) else { return }
        MemoryAdvice.noHugePages(p, byteCount: length)
        MemoryAdvice.dontNeed(p, byteCount: length)
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}

/// Drops the resident pages wholly inside `pointer ..< pointer + count` of a read-only file mapping
/// (`madvise(MADV_DONTNEED)`): the bytes stay readable and are faulted back from the page cache if touched
/// again. Streaming writers call this after consuming a range, so resident memory stays bounded.
public func releaseMappedPages(_ pointer: UnsafeRawPointer, count: Int) {
    guard let (p, length) = wholePages(pointer, count: count) else { return }
    MemoryAdvice.dontNeed(p, byteCount: length)
}

/// The whole pages inside `pointer ..< pointer + count` (start and length in bytes), nil when there are none.
private func wholePages(_ pointer: UnsafeRawPointer, count: Int) -> (UnsafeMutableRawPointer, Int)? {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: pointer) + page - 1) / page * page
    let end = (Int(bitPattern: pointer) + count) / page * page
    guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return nil }
    return (p, end - start)
}
