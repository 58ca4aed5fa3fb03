import BFFNCore
import Dispatch
import Synchronization

/// The CRC-32 and size of every source file, for the manifest's provenance, and the check of the ranges whose
/// CRC-32 the source records but the reader did not check on read (stored zip entries of a `pytorch_model.bin`
/// opened with deferred checks): one pass over each file yields both, the file's CRC combined from its ranges'.
///
/// With more than one thread the checksums are computed on a background thread from the moment the converter
/// starts, so they fill the gaps between the encoding threads' work instead of following it; with one thread
/// they are computed in `result()`. Files are read in 16 MiB pieces whose pages are released as they go, so a
/// multi-GB source never stays resident.
final class SourceChecksums: Sendable {
    /// One source file: its base name, size in bytes and CRC-32.
    struct File {
        var name: String
        var bytes: UInt64
        var crc: UInt32
    }

    private let paths: [String]
    private let checks: [String: [ChecksummedRange]]
    private let done = DispatchSemaphore(value: 0)
    /// The background work's outcome, once it has one.
    private let outcome = Mutex<Result<[File], BFFNError>?>(nil)
    /// Set when the converter gives up, so the background work stops early.
    private let cancelled = Atomic<Bool>(false)
    private let background: Bool

    /// Starts checksumming `paths` and checking `checks` (per path; in the background when `threads` > 1).
    init(paths: [String], checks: [String: [ChecksummedRange]] = [:], threads: Int) {
        self.paths = paths
        self.checks = checks
        background = threads > 1
        if background {
            DispatchQueue.global(qos: .utility).async { [self] in
                let r = compute()
                outcome.withLock { $0 = r }
                done.signal()
            }
        }
    }

    /// Stops a background computation early (the converter failed); `result()` must not be called afterwards.
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// The files in the order given, waiting for the background work.
    /// - Throws: `.io` and the mapping errors of `MappedFile` for a source that cannot be read;
    ///   `.checksumMismatch` naming the file, the range (zip entry) and its offset when a checked range differs.
    func result() throws -> [File] {
        if !background { return try compute().get() }
        done.wait()
        done.signal()   // later calls return at once
        return try outcome.withLock { $0! }.get()
    }

    /// The CRC-32 of `all`, checking each of `ranges` (sorted, disjoint) on the way: the file is cut at the ranges'
    /// ends into segments, each segment's CRC is computed once, in 16 MiB pieces whose pages are then released,
    /// and combined into the file's.
    private func checksum(_ all: UnsafeRawBufferPointer, checking ranges: [ChecksummedRange], path: String) throws -> UInt32 {
        var cuts: [(end: Int, range: ChecksummedRange?)] = []
        var position = 0
        for r in ranges {
            guard r.offset >= UInt64(position), r.offset <= UInt64(all.count), r.length <= UInt64(all.count) - r.offset else {
                throw BFFNError(.outOfBounds, "range of \(r.length) bytes overlaps another or lies outside the \(all.count)-byte file",
                                file: path, field: r.name, offset: r.offset)
            }
            if r.offset > UInt64(position) { cuts.append((Int(r.offset), nil)) }
            cuts.append((Int(r.offset + r.length), r))
            position = Int(r.offset + r.length)
        }
        if position < all.count { cuts.append((all.count, nil)) }
        var fileCRC: UInt32 = 0
        position = 0
        for cut in cuts {
            let start = position
            var segmentCRC: UInt32 = 0
            while position < cut.end {
                if cancelled.load(ordering: .relaxed) { return 0 }
                let piece = UnsafeRawBufferPointer(rebasing: all[position..<min(cut.end, position + (16 << 20))])
                segmentCRC = CRC32.checksum(piece, initial: segmentCRC)
                releaseMappedPages(piece.baseAddress!, count: piece.count)
                position += piece.count
            }
            if let r = cut.range, segmentCRC != r.crc32 {
                throw BFFNError(.checksumMismatch, "CRC-32 is \(CRC32.hex(segmentCRC)) but the directory says \(CRC32.hex(r.crc32))",
                                file: path, field: r.name, offset: r.offset)
            }
            fileCRC = CRC32.combine(fileCRC, segmentCRC, length: cut.end - start)
        }
        return fileCRC
    }

    private func compute() -> Result<[File], BFFNError> {
        do {
            var files: [File] = []
            for p in paths {
                let f = try MappedFile(path: p)
                let ranges = checks[p] ?? []
                let crc: UInt32 = try f.withBytes { all in try checksum(all, checking: ranges, path: p) }
                files.append(File(name: String(p.split(separator: "/").last ?? ""), bytes: UInt64(f.size), crc: crc))
            }
            return .success(files)
        } catch let e as BFFNError {
            return .failure(e)
        } catch {
            return .failure(BFFNError(.io, "\(error)"))
        }
    }
}
