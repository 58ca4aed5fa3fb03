import BFFNCore

/// The fixed 64-byte header of a `.bfpk` file (formats/bfpk.md).
public struct PackHeader: Sendable, Equatable {
    public static let magic = Array("BFFNPACK".utf8)
    public static let version: UInt32 = 1
    public static let length = 64
    public static let byteOrderMark: UInt32 = 0x0102_0304

    public var manifestOffset: UInt64
    public var manifestLength: UInt64
    public var manifestCRC: UInt32
    public var alignment: UInt32
    public var fileLength: UInt64

    /// The one alignment rule for sections and expert blocks, whoever names an alignment (the header, the
    /// converter's `--align`, skill-card packs, device profiles): a power of two from 64 to 1048576 bytes.
    public static func isSupportedAlignment<T: BinaryInteger>(_ alignment: T) -> Bool {
        alignment >= 64 && alignment <= 1 << 20 && alignment & (alignment - 1) == 0
    }

    /// The alignment rule in words, for messages.
    public static let alignmentRule = "a power of two from 64 to 1048576"

    public init(manifestOffset: UInt64, manifestLength: UInt64, manifestCRC: UInt32, alignment: UInt32, fileLength: UInt64) {
        self.manifestOffset = manifestOffset
        self.manifestLength = manifestLength
        self.manifestCRC = manifestCRC
        self.alignment = alignment
        self.fileLength = fileLength
    }

    /// The 64 header bytes, CRC included.
    public var bytes: [UInt8] {
        var b: [UInt8] = PackHeader.magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        put(PackHeader.version); put(PackHeader.byteOrderMark); put(UInt64(PackHeader.length))
        put(manifestOffset); put(manifestLength); put(manifestCRC); put(alignment); put(fileLength)
        put(CRC32.checksum(b))
        put(UInt32(0))
        return b
    }

    /// Parses and checks the header of a file image (checks 1-2 of formats/bfpk.md).
    /// - Throws: `BFFNError` naming the field and offset.
    public static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> PackHeader {
        var r = ByteReader(file, file: path)
        let magic = try r.slice(8, what: "the header")
        guard Array(magic) == PackHeader.magic else {
            throw BFFNError(.malformed, "not a .bfpk file (magic is not BFFNPACK)", file: path, field: "magic", offset: 0)
        }
        let version = try r.read(UInt32.self, what: "the header")
        let bom = try r.read(UInt32.self, what: "the header")
        let headerLength = try r.read(UInt64.self, what: "the header")
        let h = PackHeader(manifestOffset: try r.read(UInt64.self, what: "the header"), manifestLength: try r.read(UInt64.self, what: "the header"),
                           manifestCRC: try r.read(UInt32.self, what: "the header"), alignment: try r.read(UInt32.self, what: "the header"),
                           fileLength: try r.read(UInt64.self, what: "the header"))
        let crc = try r.read(UInt32.self, what: "the header")
        _ = try r.read(UInt32.self, what: "the header")
        guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: file[0..<56])) == crc else {
            throw BFFNError(.checksumMismatch, "header CRC-32 does not match its bytes", file: path, field: "header", offset: 56)
        }
        guard version == PackHeader.version else {
            throw BFFNError(.unsupported, "format version \(version); this bffn reads version \(PackHeader.version)", file: path, field: "version", offset: 8)
        }
        guard bom == PackHeader.byteOrderMark else {
            throw BFFNError(.unsupported, "byte-order mark \(bom) is not little-endian 0x01020304", file: path, field: "byte order", offset: 12)
        }
        guard headerLength == UInt64(PackHeader.length) else {
            throw BFFNError(.malformed, "header length \(headerLength), expected 64", file: path, field: "header length", offset: 16)
        }
        guard isSupportedAlignment(h.alignment) else {
            throw BFFNError(.malformed, "alignment \(h.alignment) is not \(alignmentRule)", file: path, field: "alignment", offset: 44)
        }
        guard h.fileLength == UInt64(file.count) else {
            throw BFFNError(h.fileLength > UInt64(file.count) ? .truncated : .malformed,
                            "header says \(h.fileLength) bytes but the file has \(file.count)", file: path, field: "file length", offset: 48)
        }
        guard h.manifestOffset >= 64, h.manifestOffset <= h.fileLength, h.manifestLength == h.fileLength - h.manifestOffset else {
            throw BFFNError(.outOfBounds, "manifest range \(h.manifestOffset) + \(h.manifestLength) does not end the \(h.fileLength)-byte file",
                            file: path, field: "manifest offset", offset: 24)
        }
        return h
    }
}
