/// A bounds-checked little-endian reader over a byte buffer.
///
/// Every read checks that the bytes exist and throws `BFFNError.truncated` naming the absolute offset
/// otherwise; nothing here traps on malformed input. `base` is the absolute file offset of the buffer's first
/// byte, so errors report positions in the file, not in the slice.
public struct ByteReader {
    /// The bytes being read.
    public let bytes: UnsafeRawBufferPointer
    /// The absolute file offset of `bytes[0]`.
    public let base: UInt64
    /// The next position to read, relative to `bytes`.
    public var position: Int
    /// The file name used in errors.
    public let file: String?

    /// Creates a reader at `position` (relative to `bytes`).
    public init(_ bytes: UnsafeRawBufferPointer, base: UInt64 = 0, position: Int = 0, file: String? = nil) {
        self.bytes = bytes
        self.base = base
        self.position = position
        self.file = file
    }

    /// Bytes left after `position`.
    public var remaining: Int { bytes.count - position }

    /// The absolute file offset of `position`.
    public var absoluteOffset: UInt64 { base + UInt64(position) }

    /// Throws `truncated` unless `count` bytes remain.
    public func require(_ count: Int, what: String) throws {
        guard count >= 0, count <= remaining else {
            throw BFFNError(.truncated, "file ends inside \(what): \(count) bytes needed, \(max(remaining, 0)) left",
                            file: file, field: nil, offset: absoluteOffset)
        }
    }

    /// Reads a little-endian fixed-width integer.
    public mutating func read<T: FixedWidthInteger>(_: T.Type, what: String) throws -> T {
        try require(MemoryLayout<T>.size, what: what)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    /// Returns the next `count` bytes as a view (no copy) and advances.
    public mutating func slice(_ count: Int, what: String) throws -> UnsafeRawBufferPointer {
        try require(count, what: what)
        let s = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        position += count
        return s
    }

    /// Skips `count` bytes.
    public mutating func skip(_ count: Int, what: String) throws {
        try require(count, what: what)
        position += count
    }
}
