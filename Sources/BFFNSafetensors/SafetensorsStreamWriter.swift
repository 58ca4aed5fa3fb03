import BFFNCore

/// Writes a `.safetensors` file tensor by tensor, for models too large to hold in memory: the header (all
/// shapes are declared up front) is written first, then each tensor's bytes are streamed in order. The file
/// appears under its final name only after `finish()` (`AtomicFileWriter`).
public final class SafetensorsStreamWriter {
    private let out: AtomicFileWriter
    private let sizes: [UInt64]
    private let names: [String]
    private var next = 0

    /// Starts the file with tensors `(name, dtype, shape)` in the order their bytes will follow.
    /// - Throws: `.shapeMismatch` for a shape that overflows or is not a whole number of bytes, `.outputExists`.
    public init(path: String, tensors: [(name: String, dtype: DType, shape: [Int])], metadata: [(String, String)] = [],
                overwrite: Bool) throws {
        var members: [(String, JSONValue)] = []
        if !metadata.isEmpty { members.append(("__metadata__", .object(metadata.map { ($0.0, JSONValue.string($0.1)) }))) }
        var offset: UInt64 = 0
        var sizes: [UInt64] = []
        for t in tensors {
            guard let n = Shape.elementCount(t.shape), let size = t.dtype.byteCount(elements: n) else {
                throw BFFNError(.shapeMismatch, "shape \(Shape.describe(t.shape)) of \(t.dtype.rawValue) has no whole byte size", field: t.name)
            }
            members.append((t.name, .object([("dtype", .string(t.dtype.rawValue)), ("shape", .array(t.shape.map { .integer($0) })),
                                              ("data_offsets", .array([.integer(offset), .integer(offset + size)]))])))
            sizes.append(size)
            offset += size
        }
        var header = Array(JSONValue.object(members).serialized(pretty: false).utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        out = try AtomicFileWriter(path: path, overwrite: overwrite)
        var prefix: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix += $0 }
        try out.write(prefix + header)
        self.sizes = sizes
        names = tensors.map(\.name)
    }

    /// Streams the next tensor's bytes (see `TorchCheckpointWriter.writeTensor`).
    public func writeTensor(_ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var written: UInt64 = 0
        try produce { piece in
            written += UInt64(piece.count)
            try out.write(piece)
        }
        guard written == sizes[next] else {
            throw BFFNError(.shapeMismatch, "\(written) bytes written for a tensor of \(sizes[next])", field: names[next])
        }
        next += 1
    }

    /// Moves the complete file to its final name.
    public func finish() throws {
        guard next == sizes.count else { throw BFFNError(.malformed, "\(sizes.count - next) declared tensors were not written") }
        try out.commit()
    }
}
