import BFFNCore

/// Writes `.safetensors` files: a JSON header written with json-c, padded with spaces to a multiple of 8
/// bytes, then the tensors' bytes in the order given, without gaps.
public struct SafetensorsWriter {
    /// One tensor to write: its name, dtype, shape and bytes (row-major).
    public struct Tensor {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
        public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }
    }

    /// Builds the whole file image.
    /// - Throws: `BFFNError.shapeMismatch` when a tensor's byte count disagrees with its shape and dtype.
    public static func image(_ tensors: [Tensor], metadata: [(String, String)] = []) throws -> [UInt8] {
        var members: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.map { ($0.0, JSONValue.string($0.1)) })))
        }
        var offset: UInt64 = 0
        for t in tensors {
            guard let n = Shape.elementCount(t.shape), t.dtype.byteCount(elements: n) == UInt64(t.bytes.count) else {
                throw BFFNError(.shapeMismatch, "\(t.bytes.count) bytes do not match shape \(Shape.describe(t.shape)) of \(t.dtype.rawValue)",
                                field: t.name)
            }
            let end = offset + UInt64(t.bytes.count)
            members.append((t.name, .object([
                ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .int(Int64($0)) })),
                ("data_offsets", .array([.int(Int64(offset)), .int(Int64(end))])),
            ])))
            offset = end
        }
        var header = Array(JSONValue.object(members).serialized(pretty: false).utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + Int(offset))
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for t in tensors { out.append(contentsOf: t.bytes) }
        return out
    }

    /// Writes the file atomically to `path`.
    public static func write(_ tensors: [Tensor], metadata: [(String, String)] = [], to path: String,
                             overwrite: Bool = true) throws {
        try writeFileAtomically(path, try image(tensors, metadata: metadata), overwrite: overwrite)
    }
}
