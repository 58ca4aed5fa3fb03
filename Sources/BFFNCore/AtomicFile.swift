import Synchronization

/// Writes a file so that readers only ever see the old file or the complete new one.
///
/// Bytes go to a temporary file in the same folder (`.NAME.tmp-PID-XXXXXX`, created with `mkstemp`; PID is the
/// writing process); `commit()` fsyncs it, renames it over the final name and fsyncs the folder. If the writer
/// is dropped without `commit()` (an error) the temporary file is removed and the final name is untouched; a
/// process interrupted by SIGINT, SIGTERM or SIGHUP removes it too (`InterruptCleanup`: the signal handler unlinks
/// the temporaries recorded there, then the process ends as killed by the signal); a process killed outright
/// (SIGKILL, a crash) leaves only a hidden `.tmp-` file, never a partial file under the final name, and the
/// next writer of the same name removes it (`removedStaleFiles`) once its process is gone. Two processes
/// writing one name at once each write their own temporary file; the last rename wins, whole.
///
/// For fault-injection tests, `BFFN_FAULT_KILL_AFTER_BYTES=N` in the environment makes the process kill itself
/// (SIGKILL) once a writer has written more than N bytes, and `BFFN_FAULT_PAUSE_AFTER_BYTES=N` makes the writing
/// thread sleep for up to 60 seconds, once, after more than N bytes, so a test can signal the process while its
/// temporary file exists.
public final class AtomicFileWriter {
    /// The final path.
    public let path: String
    /// The temporary path being written.
    public private(set) var temporaryPath: String
    private var fd: Int32
    private var committed = false
    /// This writer's entry in `InterruptCleanup` (nil when the table was full).
    private var interruptEntry: Int32?
    /// Bytes written so far (including bytes still in the write buffer).
    public private(set) var bytesWritten: UInt64 = 0
    /// Small writes are gathered here and written in 4 MiB pieces.
    private var buffer: [UInt8] = []
    private static let bufferSize = 4 << 20
    /// Stale temporary files of this name that an earlier, killed writer left and this one removed, with their
    /// sizes in bytes.
    public private(set) var removedStaleFiles: [(path: String, bytes: UInt64)] = []
    /// `BFFN_FAULT_KILL_AFTER_BYTES`, read once.
    private static let killAfterBytes: UInt64? = getenv("BFFN_FAULT_KILL_AFTER_BYTES").flatMap { UInt64(String(cString: $0)) }
    /// `BFFN_FAULT_PAUSE_AFTER_BYTES`, read once.
    private static let pauseAfterBytes: UInt64? = getenv("BFFN_FAULT_PAUSE_AFTER_BYTES").flatMap { UInt64(String(cString: $0)) }
    /// Whether this writer has paused already.
    private let paused = Atomic<Bool>(false)
    /// Bytes handed to the kernel so far (for fault injection; positional writes come from several threads).
    private let bytesIssued = Atomic<UInt64>(0)

    /// Creates the temporary file beside `path`.
    /// - Parameter overwrite: when false and `path` exists, throws `.outputExists`.
    /// - Throws: `BFFNError.outputExists`, or `.io` when the folder is not writable.
    public init(path: String, overwrite: Bool) throws {
        self.path = path
        if !overwrite && access(path, F_OK) == 0 {
            throw BFFNError(.outputExists, "output exists; pass --force to overwrite it", file: path)
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        removedStaleFiles = Self.removeStaleTemporaries(folder: dir.isEmpty ? "/" : dir, name: name)
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(name).tmp-\(getpid())-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw BFFNError(.io, "cannot create a temporary file: \(String(cString: strerror(errno)))", file: path)
        }
        temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        interruptEntry = InterruptCleanup.removeOnInterrupt(temporaryPath)
        fchmod(fd, 0o644)
    }

    /// Removes `.NAME.tmp-PID-XXXXXX` files in `folder` whose process no longer runs (and temporaries of the
    /// older `.NAME.tmp-XXXXXX` form last changed over an hour ago); returns what it removed.
    static func removeStaleTemporaries(folder: String, name: String) -> [(path: String, bytes: UInt64)] {
        let prefix = "." + name + ".tmp-"
        var removed: [(String, UInt64)] = []
        for entry in (try? Directory.names(in: folder)) ?? [] {
            guard entry.hasPrefix(prefix) else { continue }
            let rest = entry.dropFirst(prefix.count)
            let parts = rest.split(separator: "-")
            var info = stat()
            let full = folder + "/" + entry
            guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            let stale: Bool
            if parts.count == 2, let pid = Int32(parts[0]), pid > 0 {
                stale = kill(pid, 0) != 0 && errno == ESRCH
            } else {
                stale = parts.count == 1 && time(nil) - info.modificationSeconds > 3600
            }
            if stale && unlink(full) == 0 { removed.append((full, UInt64(info.st_size))) }
        }
        return removed
    }

    /// Counts bytes handed to the kernel, and kills the process when fault injection asks for it.
    private func issued(_ n: Int) {
        guard Self.killAfterBytes != nil || Self.pauseAfterBytes != nil else { return }
        let total = bytesIssued.add(UInt64(n), ordering: .relaxed).newValue
        if let limit = Self.killAfterBytes, total > limit { kill(getpid(), SIGKILL) }
        if let limit = Self.pauseAfterBytes, total > limit, !paused.exchange(true, ordering: .relaxed) { sleep(60) }
    }

    /// Appends bytes (buffered; large pieces go straight to the file).
    /// - Throws: `BFFNError.io` on a short or failed write (disk full, say).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count < AtomicFileWriter.bufferSize / 4 {
            if buffer.count + bytes.count > AtomicFileWriter.bufferSize { try flush() }
            buffer.append(contentsOf: bytes)
            bytesWritten += UInt64(bytes.count)
            return
        }
        try flush()
        try writeThrough(bytes)
        bytesWritten += UInt64(bytes.count)
    }

    /// Writes the buffered bytes to the file.
    func flush() throws {
        guard !buffer.isEmpty else { return }
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        try pending.withUnsafeBytes { try writeThrough($0) }
    }

    private func writeThrough(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = CLibrary.write(fd, p, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw BFFNError(.io, "write failed: \(String(cString: strerror(errno)))", file: temporaryPath)
            }
            issued(n)
            p += n
            left -= n
        }
    }

    /// Overwrites bytes already written, at absolute `offset` (`pwrite`), e.g. to patch a header.
    /// - Throws: `BFFNError.io` on failure.
    public func overwrite(_ bytes: [UInt8], at offset: UInt64) throws {
        try flush()
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else {
            throw BFFNError(.io, "pwrite failed: \(String(cString: strerror(errno)))", file: temporaryPath)
        }
    }

    /// Reserves the next `count` bytes of the file for positional writes (`write(_:at:)`, possibly from several
    /// threads at once) and returns their offset; later appends go after them. The caller must write every
    /// reserved byte before `commit()`, or the file keeps a hole of zeros there.
    /// - Throws: `BFFNError.io` when the buffered bytes cannot be written or the file position not moved.
    public func reserve(_ count: UInt64) throws -> UInt64 {
        try flush()
        let start = bytesWritten
        guard lseek(fd, off_t(count), SEEK_CUR) >= 0 else {
            throw BFFNError(.io, "lseek failed: \(String(cString: strerror(errno)))", file: temporaryPath)
        }
        bytesWritten += count
        return start
    }

    /// Writes `bytes` at absolute `offset` (`pwrite`) inside a range from `reserve(_:)`. Safe to call from
    /// several threads at once for disjoint ranges.
    /// - Throws: `BFFNError.io` on a short or failed write (disk full, say), naming the offset.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count, at = off_t(offset)
        while left > 0 {
            let n = pwrite(fd, p, min(left, 1 << 30), at)
            if n < 0 {
                if errno == EINTR { continue }
                throw BFFNError(.io, "write failed: \(String(cString: strerror(errno)))", file: temporaryPath, offset: UInt64(at))
            }
            issued(n)
            p += n
            left -= n
            at += off_t(n)
        }
    }

    /// Starts writing `length` bytes from `offset` to the disk without waiting (`WriteBack`: Linux
    /// `sync_file_range`; nothing on Darwin), so `commit()`'s fsync overlaps with the work still to come instead
    /// of following it. Only a hint: errors surface at `commit()`.
    public func startWriteback(offset: UInt64, length: UInt64) {
        WriteBack.start(fd: fd, offset: offset, length: length)
    }

    /// Appends a byte array.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends zero bytes until the file length is a multiple of `alignment`.
    public func pad(toMultipleOf alignment: UInt64) throws {
        let rem = bytesWritten % alignment
        if rem != 0 { try write([UInt8](repeating: 0, count: Int(alignment - rem))) }
    }

    /// Makes the file durable and moves it to the final name.
    /// - Throws: `BFFNError.io` when fsync or rename fail; the temporary file is then removed.
    public func commit() throws {
        try flush()
        guard fsync(fd) == 0 else {
            throw BFFNError(.io, "fsync failed: \(String(cString: strerror(errno)))", file: temporaryPath)
        }
        close(fd)
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            throw BFFNError(.io, "rename to final name failed: \(String(cString: strerror(errno)))", file: path)
        }
        committed = true
        InterruptCleanup.keep(interruptEntry)
        interruptEntry = nil
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed { unlink(temporaryPath) }
        InterruptCleanup.keep(interruptEntry)
    }
}

/// Writes `bytes` to `path` atomically (see `AtomicFileWriter`).
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], overwrite: Bool = true) throws {
    let w = try AtomicFileWriter(path: path, overwrite: overwrite)
    try w.write(bytes)
    try w.commit()
}
