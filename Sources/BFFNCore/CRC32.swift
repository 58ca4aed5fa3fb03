import CBlockFFNZlib

/// CRC-32 (the zip / zlib polynomial) computed with zlib's `crc32`.
public enum CRC32 {
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

    /// The checksum of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
