import CBlockFFNZlib
import Dispatch

/// Pointers handed to worker threads that write disjoint slots.
private struct SendableBuffer: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    let results: UnsafeMutableBufferPointer<UInt32>
}

/// A byte range of a file whose CRC-32 a format records (a stored zip entry, say), for a caller that checks
/// it later in one pass over the file instead of when the range is first read.
public struct ChecksummedRange: Sendable, Equatable {
    /// What the range holds (the zip entry name), for errors.
    public var name: String
    /// Absolute offset of the first byte in the file.
    public var offset: UInt64
    /// Length in bytes.
    public var length: UInt64
    /// The CRC-32 the file records for the range.
    public var crc32: UInt32
    public init(name: String, offset: UInt64, length: UInt64, crc32: UInt32) {
        self.name = name
        self.offset = offset
        self.length = length
        self.crc32 = crc32
    }
}

/// CRC-32 (the zip / zlib polynomial) computed with zlib's `crc32`.
public enum CRC32 {
    /// A CRC as 8 lower-case hex digits, as error messages show it.
    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The checksum of `bytes`, continuing from `initial` (0 for a fresh checksum).
    ///
    /// zlib's `crc32` takes a 32-bit length, so large buffers are fed in 1 GiB pieces.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        var crc = UInt(initial)
        guard var base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return initial }
        var remaining = bytes.count
        while remaining > 0 {
            let piece = min(remaining, 1 << 30)
            crc = crc32(crc, base, UInt32(piece))
            base += piece
            remaining -= piece
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The checksum of `bytes` computed on `threads` threads: each computes the CRC of one piece and zlib's
    /// `crc32_combine` joins them, so the result equals `checksum(bytes)`. Small buffers use one thread.
    public static func parallelChecksum(_ bytes: UnsafeRawBufferPointer, threads: Int) -> UInt32 {
        let pieces = max(1, min(threads, bytes.count / (8 << 20)))
        if pieces == 1 { return checksum(bytes) }
        let size = (bytes.count + pieces - 1) / pieces
        let results = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: pieces)
        defer { results.deallocate() }
        let shared = SendableBuffer(bytes: bytes, results: results)
        DispatchQueue.concurrentPerform(iterations: pieces) { i in
            let start = i * size, end = min(shared.bytes.count, start + size)
            shared.results[i] = checksum(UnsafeRawBufferPointer(rebasing: shared.bytes[start..<end]))
        }
        var crc = UInt(results[0])
        for i in 1..<pieces {
            let len = min(bytes.count, (i + 1) * size) - i * size
            crc = crc32_combine(crc, UInt(results[i]), off_t(len))
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The CRC of A followed by B, from crc(A), crc(B) and B's length (zlib's `crc32_combine`).
    public static func combine(_ a: UInt32, _ b: UInt32, length: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32_combine(UInt(a), UInt(b), off_t(length)))
    }

    /// The checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
