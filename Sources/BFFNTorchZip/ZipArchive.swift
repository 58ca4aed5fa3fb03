import BFFNCore
import CBlockFFNZlib

/// One member of a zip archive, as its central directory and local header describe it.
public struct ZipEntry: Sendable, Equatable {
    /// The compression method: stored (0) or deflated (8); other methods are refused when read.
    public enum Method: UInt16, Sendable { case stored = 0, deflated = 8 }

    /// The entry name (path inside the archive).
    public var name: String
    /// How the bytes are stored.
    public var method: Method
    /// The CRC-32 of the uncompressed bytes.
    public var crc32: UInt32
    /// The stored (compressed) size in bytes.
    public var compressedSize: UInt64
    /// The uncompressed size in bytes.
    public var uncompressedSize: UInt64
    /// The absolute file offset of the local file header.
    public var localHeaderOffset: UInt64
    /// The absolute file offset of the entry's stored bytes.
    public var dataOffset: UInt64
}

/// A read-only zip archive over a memory-mapped file: the subset PyTorch's `torch.save` writes and the usual
/// tools produce (see formats/pytorch-bin.md).
///
/// Opening reads only the end-of-central-directory record (zip64 when the classic one is saturated), the
/// central directory and each entry's local header; entry bytes are read on demand by `contents(of:)`, which
/// inflates deflated entries through zlib and checks every entry's CRC-32.
public final class ZipArchive: @unchecked Sendable {
    /// The mapped archive.
    public let file: MappedFile
    /// Entries in central-directory order.
    public let entries: [ZipEntry]
    private let index: [String: Int]

    /// The most entries accepted (bounds the work a hostile central directory can ask for).
    public static let maxEntries = 1_000_000
    /// The largest uncompressed size accepted for a deflated entry, in bytes (deflate cannot expand more
    /// than about 1032:1, and bffn keeps inflated entries in memory).
    public static let maxInflatedSize: UInt64 = 4 << 30

    /// Threads used to check the CRC of large entries.
    public static let checksumThreads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Opens the archive at `path`.
    /// - Throws: `BFFNError` naming the file, the entry and the byte offset: `.malformed` for a missing
    ///   end record or a bad signature, `.truncated`/`.outOfBounds` for records past the end, `.unsupported`
    ///   for multi-disk or encrypted archives, `.duplicateName` for an entry name given twice.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Opens an already mapped archive.
    public init(file: MappedFile) throws {
        self.file = file
        let bytes = file.bytes
        let path = file.path
        let eocd = try ZipArchive.findEndRecord(bytes, path: path)
        var r = ByteReader(bytes, position: eocd + 4, file: path)
        let diskNumber = try r.read(UInt16.self, what: "end record")
        let cdDisk = try r.read(UInt16.self, what: "end record")
        _ = try r.read(UInt16.self, what: "end record")
        var total = UInt64(try r.read(UInt16.self, what: "end record"))
        var cdSize = UInt64(try r.read(UInt32.self, what: "end record"))
        var cdOffset = UInt64(try r.read(UInt32.self, what: "end record"))
        if total == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            (total, cdSize, cdOffset) = try ZipArchive.readZip64End(bytes, eocd: eocd, path: path)
        } else if diskNumber != 0 || cdDisk != 0 {
            throw BFFNError(.unsupported, "multi-disk zip archives are not supported", file: path, offset: UInt64(eocd))
        }
        guard cdOffset <= UInt64(bytes.count), cdSize <= UInt64(bytes.count) - cdOffset else {
            throw BFFNError(.outOfBounds, "central directory (\(cdSize) bytes at \(cdOffset)) lies outside the \(bytes.count)-byte file",
                            file: path, field: "central directory", offset: UInt64(eocd))
        }
        guard total <= UInt64(ZipArchive.maxEntries), total * 46 <= cdSize else {
            throw BFFNError(.malformed, "end record claims \(total) entries, which a \(cdSize)-byte central directory cannot hold",
                            file: path, field: "central directory", offset: UInt64(eocd))
        }
        var entries: [ZipEntry] = []
        var index: [String: Int] = [:]
        entries.reserveCapacity(Int(total))
        var cd = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[Int(cdOffset)..<Int(cdOffset + cdSize)]),
                            base: cdOffset, file: path)
        for _ in 0..<total {
            let entry = try ZipArchive.readCentralEntry(&cd, archive: bytes, path: path, cdOffset: cdOffset)
            // The kernel may map a whole 2 MiB piece around each local header read; let it go at once, so opening
            // a multi-GB archive with hundreds of entries stays small.
            file.releaseResidentPages(around: Int(entry.localHeaderOffset), count: 30)
            if index[entry.name] != nil {
                throw BFFNError(.duplicateName, "zip entry name appears twice", file: path, field: entry.name,
                                offset: entry.localHeaderOffset)
            }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    /// The entry named `name`.
    public func entry(named name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// The uncompressed bytes of `entry`, with its CRC-32 checked.
    /// - Parameter verifyChecksum: pass false only where a caller checks the CRC itself later.
    /// - Throws: `.checksumMismatch`, `.unsupported` (another compression method), `.malformed` (a corrupt
    ///   deflate stream), `.limitExceeded` (an implausible uncompressed size).
    public func contents(of entry: ZipEntry, verifyChecksum: Bool = true) throws -> LoadedBytes {
        let path = file.path
        let start = Int(entry.dataOffset)
        let stored = UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + Int(entry.compressedSize))])
        let result: LoadedBytes
        switch entry.method {
        case .stored:
            result = LoadedBytes(view: stored, owner: file)
        case .deflated:
            result = LoadedBytes(owned: try ZipArchive.inflate(stored, entry: entry, path: path), count: Int(entry.uncompressedSize))
        }
        if verifyChecksum {
            // In 64 MiB pieces; a large stored entry read only to check it lets each piece's pages go (they
            // fault back from the page cache on use), so checking a multi-GB file keeps memory small.
            var crc: UInt32 = 0
            var i = 0
            let all = result.bytes
            while i < all.count {
                let piece = UnsafeRawBufferPointer(rebasing: all[i..<min(all.count, i + (64 << 20))])
                crc = CRC32.combine(crc, CRC32.parallelChecksum(piece, threads: ZipArchive.checksumThreads), length: piece.count)
                if entry.method == .stored && all.count > 1 << 20 { releaseMappedPages(piece.baseAddress!, count: piece.count) }
                i += piece.count
            }
            guard crc == entry.crc32 else {
                throw BFFNError(.checksumMismatch, "CRC-32 is \(CRC32.hex(crc)) but the directory says \(CRC32.hex(entry.crc32))",
                                file: path, field: entry.name, offset: entry.dataOffset)
            }
        }
        return result
    }

    // MARK: - Records

    private static func findEndRecord(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Int {
        guard bytes.count >= 22 else {
            throw BFFNError(.truncated, "file is \(bytes.count) bytes, too short to be a zip archive", file: path, offset: 0)
        }
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var p = bytes.count - 22
        while p >= lowest {
            if bytes.loadUnaligned(fromByteOffset: p, as: UInt32.self) == 0x0605_4B50 {
                let commentLength = Int(bytes.loadUnaligned(fromByteOffset: p + 20, as: UInt16.self))
                if p + 22 + commentLength <= bytes.count { return p }
            }
            p -= 1
        }
        // A file that starts like a zip archive but has no end record was cut short; anything else is not a zip.
        if bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self) == 0x0403_4B50 {
            throw BFFNError(.truncated, "the zip archive is cut short: its end-of-central-directory record is missing",
                            file: path, offset: UInt64(bytes.count))
        }
        throw BFFNError(.malformed, "no zip end-of-central-directory record (not a zip archive)",
                        file: path, offset: UInt64(bytes.count))
    }

    private static func readZip64End(_ bytes: UnsafeRawBufferPointer, eocd: Int, path: String) throws
        -> (UInt64, UInt64, UInt64)
    {
        guard eocd >= 20 else {
            throw BFFNError(.malformed, "end record needs zip64 but there is no zip64 locator", file: path, offset: UInt64(eocd))
        }
        var loc = ByteReader(bytes, position: eocd - 20, file: path)
        guard try loc.read(UInt32.self, what: "zip64 locator") == 0x0706_4B50 else {
            throw BFFNError(.malformed, "end record needs zip64 but there is no zip64 locator", file: path,
                            offset: UInt64(eocd - 20))
        }
        _ = try loc.read(UInt32.self, what: "zip64 locator")
        let recordOffset = try loc.read(UInt64.self, what: "zip64 locator")
        guard recordOffset <= UInt64(eocd - 20) else {
            throw BFFNError(.outOfBounds, "zip64 end record offset \(recordOffset) is past its locator", file: path,
                            field: "zip64 locator", offset: UInt64(eocd - 20))
        }
        var rec = ByteReader(bytes, position: Int(recordOffset), file: path)
        guard try rec.read(UInt32.self, what: "zip64 end record") == 0x0606_4B50 else {
            throw BFFNError(.malformed, "bad zip64 end record signature", file: path, offset: recordOffset)
        }
        try rec.skip(8 + 2 + 2, what: "zip64 end record")
        let disk = try rec.read(UInt32.self, what: "zip64 end record")
        let cdDisk = try rec.read(UInt32.self, what: "zip64 end record")
        guard disk == 0, cdDisk == 0 else {
            throw BFFNError(.unsupported, "multi-disk zip archives are not supported", file: path, offset: recordOffset)
        }
        _ = try rec.read(UInt64.self, what: "zip64 end record")
        let total = try rec.read(UInt64.self, what: "zip64 end record")
        let size = try rec.read(UInt64.self, what: "zip64 end record")
        let offset = try rec.read(UInt64.self, what: "zip64 end record")
        return (total, size, offset)
    }

    private static func readCentralEntry(_ cd: inout ByteReader, archive: UnsafeRawBufferPointer, path: String,
                                         cdOffset: UInt64) throws -> ZipEntry {
        let at = cd.absoluteOffset
        guard try cd.read(UInt32.self, what: "central directory entry") == 0x0201_4B50 else {
            throw BFFNError(.malformed, "bad central directory entry signature", file: path, field: "central directory", offset: at)
        }
        try cd.skip(4, what: "central directory entry")
        let flags = try cd.read(UInt16.self, what: "central directory entry")
        let methodRaw = try cd.read(UInt16.self, what: "central directory entry")
        try cd.skip(4, what: "central directory entry")
        let crc = try cd.read(UInt32.self, what: "central directory entry")
        var csize = UInt64(try cd.read(UInt32.self, what: "central directory entry"))
        var usize = UInt64(try cd.read(UInt32.self, what: "central directory entry"))
        let nameLength = Int(try cd.read(UInt16.self, what: "central directory entry"))
        let extraLength = Int(try cd.read(UInt16.self, what: "central directory entry"))
        let commentLength = Int(try cd.read(UInt16.self, what: "central directory entry"))
        try cd.skip(8, what: "central directory entry")
        var lho = UInt64(try cd.read(UInt32.self, what: "central directory entry"))
        let nameBytes = try cd.slice(nameLength, what: "entry name")
        guard let name = String(validating: nameBytes, as: UTF8.self) else {
            throw BFFNError(.malformed, "entry name is not UTF-8", file: path, field: "central directory", offset: at)
        }
        var extra = ByteReader(try cd.slice(extraLength, what: "entry extra field"), base: cd.absoluteOffset - UInt64(extraLength), file: path)
        try cd.skip(commentLength, what: "entry comment")
        // The zip64 extended-information field holds, in order, the values the classic fields saturate.
        while extra.remaining >= 4 {
            let id = try extra.read(UInt16.self, what: "extra field")
            let size = Int(try extra.read(UInt16.self, what: "extra field"))
            var field = ByteReader(try extra.slice(size, what: "extra field"), base: extra.absoluteOffset - UInt64(size), file: path)
            if id == 0x0001 {
                if usize == 0xFFFF_FFFF { usize = try field.read(UInt64.self, what: "zip64 extra field") }
                if csize == 0xFFFF_FFFF { csize = try field.read(UInt64.self, what: "zip64 extra field") }
                if lho == 0xFFFF_FFFF { lho = try field.read(UInt64.self, what: "zip64 extra field") }
            }
        }
        if flags & 0x0001 != 0 {
            throw BFFNError(.unsupported, "encrypted zip entries are not supported", file: path, field: name, offset: at)
        }
        guard let method = ZipEntry.Method(rawValue: methodRaw) else {
            throw BFFNError(.unsupported, "compression method \(methodRaw) is not supported (only stored and deflated)",
                            file: path, field: name, offset: at)
        }
        if method == .stored && csize != usize {
            throw BFFNError(.malformed, "stored entry has compressed size \(csize) but uncompressed size \(usize)",
                            file: path, field: name, offset: at)
        }
        // The local header: its own name and extra lengths decide where the data starts.
        guard lho <= cdOffset, cdOffset - lho >= 30 else {
            throw BFFNError(.outOfBounds, "local header offset \(lho) is not before the central directory", file: path, field: name, offset: at)
        }
        var local = ByteReader(archive, position: Int(lho), file: path)
        guard try local.read(UInt32.self, what: "local header") == 0x0403_4B50 else {
            throw BFFNError(.malformed, "bad local header signature", file: path, field: name, offset: lho)
        }
        try local.skip(22, what: "local header")
        let localName = Int(try local.read(UInt16.self, what: "local header"))
        let localExtra = Int(try local.read(UInt16.self, what: "local header"))
        let dataOffset = lho + 30 + UInt64(localName) + UInt64(localExtra)
        guard dataOffset <= cdOffset, csize <= cdOffset - dataOffset else {
            throw BFFNError(.outOfBounds, "entry data (\(csize) bytes at \(dataOffset)) runs into the central directory or past the end",
                            file: path, field: name, offset: dataOffset)
        }
        return ZipEntry(name: name, method: method, crc32: crc, compressedSize: csize, uncompressedSize: usize,
                        localHeaderOffset: lho, dataOffset: dataOffset)
    }

    private static func inflate(_ input: UnsafeRawBufferPointer, entry: ZipEntry, path: String) throws
        -> UnsafeMutableRawBufferPointer
    {
        guard entry.uncompressedSize <= maxInflatedSize, entry.uncompressedSize <= entry.compressedSize * 1032 + 1024 else {
            throw BFFNError(.limitExceeded, "deflated entry claims \(entry.uncompressedSize) bytes from \(entry.compressedSize); refusing",
                            file: path, field: entry.name, offset: entry.dataOffset)
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(Int(entry.uncompressedSize), 1), alignment: 64)
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            out.deallocate()
            throw BFFNError(.io, "zlib inflateInit failed", file: path, field: entry.name)
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(min(input.count, Int(UInt32.max)))
        stream.next_out = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(min(Int(entry.uncompressedSize), Int(UInt32.max)))
        var status: Int32 = Z_OK
        var consumedIn = 0
        var producedOut = 0
        while true {
            status = CBlockFFNZlib.inflate(&stream, Z_FINISH)
            if status == Z_STREAM_END { break }
            // Refill the 32-bit windows for entries over 4 GiB.
            let inNow = Int(UInt(bitPattern: stream.next_in) - UInt(bitPattern: input.baseAddress!))
            let outNow = Int(UInt(bitPattern: stream.next_out) - UInt(bitPattern: out.baseAddress!))
            let progressed = inNow != consumedIn || outNow != producedOut
            consumedIn = inNow
            producedOut = outNow
            if (status == Z_OK || status == Z_BUF_ERROR) && progressed && stream.avail_in == 0 && inNow < input.count {
                stream.avail_in = UInt32(min(input.count - inNow, Int(UInt32.max)))
                continue
            }
            if (status == Z_OK || status == Z_BUF_ERROR) && progressed && stream.avail_out == 0 && outNow < Int(entry.uncompressedSize) {
                stream.avail_out = UInt32(min(Int(entry.uncompressedSize) - outNow, Int(UInt32.max)))
                continue
            }
            out.deallocate()
            let what = status == Z_DATA_ERROR ? "corrupt deflate data" : "deflate data does not inflate to the declared \(entry.uncompressedSize) bytes"
            throw BFFNError(.malformed, what, file: path, field: entry.name, offset: entry.dataOffset + UInt64(inNow))
        }
        guard stream.total_out == UInt(entry.uncompressedSize) else {
            out.deallocate()
            throw BFFNError(.malformed, "deflate data inflates to \(stream.total_out) bytes, not the declared \(entry.uncompressedSize)",
                            file: path, field: entry.name, offset: entry.dataOffset)
        }
        return out
    }
}
