import BFFNCore
import CBlockFFNZlib

/// Encodes 8-bit RGB images as PNG (ISO/IEC 15948): the signature, an IHDR chunk, one IDAT chunk holding the
/// zlib stream (level 9) of the rows, each with filter byte 0, and IEND; every chunk's CRC-32 from zlib.
/// Deterministic: the same pixels give the same bytes.
public enum PNGEncoder {
    /// The 8-byte PNG signature.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The PNG of a `width` × `height` image whose `rgb` holds 3 bytes per pixel, row by row from the top.
    /// - Throws: `.usage` for empty or mismatched dimensions; `.io` if zlib fails.
    public static func encode(width: Int, height: Int, rgb: [UInt8]) throws -> [UInt8] {
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, rgb.count == width * height * 3 else {
            throw BFFNError(.usage, "a \(width) x \(height) image needs \(width * height * 3) RGB bytes, not \(rgb.count)")
        }
        var raw = [UInt8]()
        raw.reserveCapacity(height * (1 + width * 3))
        for y in 0..<height {
            raw.append(0)
            raw += rgb[(y * width * 3)..<((y + 1) * width * 3)]
        }
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(UInt(raw.count))))
        var length = UInt(compressed.count)
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { compress2(out.baseAddress, &length, $0.baseAddress, UInt($0.count), 9) }
        }
        guard status == Z_OK else { throw BFFNError(.io, "zlib compress2 failed with status \(status)") }
        compressed.removeSubrange(Int(length)...)
        var ihdr = [UInt8]()
        ihdr.appendBigEndian(UInt32(width))
        ihdr.appendBigEndian(UInt32(height))
        ihdr += [8, 2, 0, 0, 0]   // bit depth 8, colour type 2 (RGB), deflate, filter method 0, no interlace
        return signature + chunk("IHDR", ihdr) + chunk("IDAT", compressed) + chunk("IEND", [])
    }

    /// One chunk: length, type, data, CRC-32 of type and data (big-endian numbers).
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.appendBigEndian(UInt32(data.count))
        let typeAndData = Array(type.utf8) + data
        out += typeAndData
        out.appendBigEndian(typeAndData.withUnsafeBytes { CRC32.checksum($0) })
        return out
    }
}

extension Array where Element == UInt8 {
    /// Appends `v` as 4 big-endian bytes.
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8((v >> 16) & 0xFF)); append(UInt8((v >> 8) & 0xFF)); append(UInt8(v & 0xFF))
    }
}
