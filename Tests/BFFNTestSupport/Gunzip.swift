import BFFNCore
import CBlockFFNZlib

extension Fixtures {
    /// The decompressed bytes of the gzip file at `path` (a fixture; at most `limit` bytes).
    /// - Throws: `.malformed` when zlib rejects the stream, `.limitExceeded` past `limit`.
    public static func gunzip(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let input = try bytes(path)
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BFFNError(.io, "zlib inflateInit failed", file: path)
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = UInt32(inBuf.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { c -> Int32 in
                    stream.next_out = c.baseAddress
                    stream.avail_out = UInt32(c.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                out += chunk[0..<(chunk.count - Int(stream.avail_out))]
                if status == Z_STREAM_END { return }
                guard status == Z_OK else { throw BFFNError(.malformed, "not a gzip stream (zlib status \(status))", file: path) }
                guard out.count <= limit else { throw BFFNError(.limitExceeded, "more than \(limit) bytes", file: path) }
            }
        }
        return out
    }
}
