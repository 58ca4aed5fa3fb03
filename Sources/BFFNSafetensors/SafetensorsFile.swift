import BFFNCore

/// One tensor entry of a safetensors header.
public struct SafetensorsEntry: Sendable, Equatable {
    /// The tensor name.
    public var name: String
    /// The element type.
    public var dtype: DType
    /// The shape, outermost dimension first.
    public var shape: [Int]
    /// The byte range inside the data section (the `data_offsets` pair), relative to its start.
    public var dataOffsets: Range<UInt64>

    public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<UInt64>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }
}

/// A memory-mapped, validated `.safetensors` file.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON, then the data section. Opening reads
/// and validates only the header (see formats/safetensors.md for every check); tensor bytes are views into
/// the mapping, so nothing is copied or read from disk until used.
public final class SafetensorsFile: @unchecked Sendable {
    /// The largest header accepted, in bytes (the reference implementation's bound).
    public static let maxHeaderLength: UInt64 = 100_000_000

    /// The mapped file.
    public let file: MappedFile
    /// Entries in header order.
    public let entries: [SafetensorsEntry]
    /// `__metadata__`, in header order.
    public let metadata: [(key: String, value: String)]
    /// The absolute file offset of the data section (8 + N).
    public let dataStart: UInt64
    private let index: [String: Int]

    /// Opens and validates `path`.
    /// - Throws: `BFFNError` naming the file, the tensor or key, and the byte offset (see `validate`).
    public init(path: String) throws {
        file = try MappedFile(path: path)
        let parsed = try SafetensorsFile.parseHeader(file.bytes, path: path)
        entries = parsed.entries
        metadata = parsed.metadata
        dataStart = parsed.dataStart
        var idx: [String: Int] = [:]
        for (i, e) in entries.enumerated() { idx[e.name] = i }
        index = idx
    }

    /// The path the file was opened with.
    public var path: String { file.path }

    /// The entry named `name`.
    public func entry(named name: String) -> SafetensorsEntry? {
        index[name].map { entries[$0] }
    }

    /// The bytes of `entry`, a zero-copy view valid while this object lives.
    public func bytes(of entry: SafetensorsEntry) -> UnsafeRawBufferPointer {
        let start = Int(dataStart + entry.dataOffsets.lowerBound)
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + entry.dataOffsets.count)])
    }

    /// The values of an F32 entry, read little-endian from any alignment (the caller checks the dtype).
    public func float32Values(of entry: SafetensorsEntry) -> [Float] {
        let raw = bytes(of: entry)
        return (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
    }

    /// The values of an I64 entry, read little-endian from any alignment (the caller checks the dtype).
    public func int64Values(of entry: SafetensorsEntry) -> [Int] {
        let raw = bytes(of: entry)
        return (0..<(raw.count / 8)).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
    }

    /// Parses and validates a whole file image.
    ///
    /// Checks, in order: the file holds the 8-byte length; N ≤ `maxHeaderLength`; 8 + N ≤ file size; the header
    /// is UTF-8 JSON whose top level is an object (leading `{`, trailing spaces allowed); no key appears twice;
    /// `__metadata__`, when present, maps strings to strings; every other key is an object with exactly
    /// `dtype` (a known name), `shape` (non-negative integers) and `data_offsets` ([begin, end], begin ≤ end);
    /// the element count times the dtype size equals end − begin; sorted by begin, the ranges start at 0, do
    /// not overlap, leave no gaps and end exactly at the end of the file.
    /// - Throws: `BFFNError` with the code of the first failed check.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String)
        throws -> (entries: [SafetensorsEntry], metadata: [(key: String, value: String)], dataStart: UInt64)
    {
        var reader = ByteReader(bytes, file: path)
        let n = try reader.read(UInt64.self, what: "the 8-byte header length")
        guard n <= maxHeaderLength else {
            throw BFFNError(.limitExceeded, "header length \(n) exceeds the \(maxHeaderLength)-byte bound",
                            file: path, field: "header length", offset: 0)
        }
        guard n <= UInt64(reader.remaining) else {
            throw BFFNError(.truncated, "header length \(n) runs past the end of the \(bytes.count)-byte file",
                            file: path, field: "header length", offset: 0)
        }
        let headerBytes = try reader.slice(Int(n), what: "header")
        guard n > 0, headerBytes[0] == UInt8(ascii: "{") else {
            throw BFFNError(.invalidJSON, "header must be a JSON object starting with '{'", file: path, offset: 8)
        }
        let header = try JSONValue.parse(headerBytes, file: path, baseOffset: 8, what: "safetensors header")
        guard let members = header.objectMembers else {
            throw BFFNError(.invalidJSON, "header is a JSON \(header.typeName), not an object", file: path, offset: 8)
        }
        let dataStart = 8 + n
        let dataLength = UInt64(bytes.count) - dataStart
        var entries: [SafetensorsEntry] = []
        var metadata: [(key: String, value: String)] = []
        entries.reserveCapacity(members.count)
        for member in members {
            if member.key == "__metadata__" {
                guard let meta = member.value.objectMembers else {
                    throw BFFNError(.invalidJSON, "__metadata__ must be an object of strings, found \(member.value.typeName)",
                                    file: path, field: "__metadata__", offset: 8)
                }
                for m in meta {
                    guard let s = m.value.stringValue else {
                        throw BFFNError(.invalidJSON, "__metadata__ values must be strings; '\(m.key)' is \(m.value.typeName)",
                                        file: path, field: "__metadata__.\(m.key)", offset: 8)
                    }
                    metadata.append((m.key, s))
                }
                continue
            }
            entries.append(try parseEntry(member, path: path))
        }
        // Layout: sorted by begin, contiguous from 0 to the end of the file.
        let order = entries.indices.sorted {
            (entries[$0].dataOffsets.lowerBound, entries[$0].dataOffsets.upperBound)
                < (entries[$1].dataOffsets.lowerBound, entries[$1].dataOffsets.upperBound)
        }
        var expected: UInt64 = 0
        for i in order {
            let e = entries[i]
            let r = e.dataOffsets
            if r.upperBound > dataLength {
                // The header declares more data than the file holds: the file was cut short.
                throw BFFNError(.truncated, "data_offsets [\(r.lowerBound), \(r.upperBound)] run past the \(dataLength)-byte data section (the file is cut short)",
                                file: path, field: e.name, offset: dataStart + r.lowerBound)
            }
            if r.lowerBound < expected {
                throw BFFNError(.badLayout, "data_offsets [\(r.lowerBound), \(r.upperBound)] overlap the previous tensor, which ends at \(expected)",
                                file: path, field: e.name, offset: dataStart + r.lowerBound)
            }
            if r.lowerBound > expected {
                throw BFFNError(.badLayout, "bytes \(expected)..<\(r.lowerBound) of the data section belong to no tensor",
                                file: path, field: e.name, offset: dataStart + expected)
            }
            expected = r.upperBound
        }
        if expected != dataLength {
            throw BFFNError(.badLayout, "the data section has \(dataLength - expected) trailing bytes no tensor covers",
                            file: path, offset: dataStart + expected)
        }
        return (entries, metadata, dataStart)
    }

    private static func parseEntry(_ member: JSONMember, path: String) throws -> SafetensorsEntry {
        let name = member.key
        func fail(_ code: BFFNError.Code, _ reason: String) -> BFFNError {
            BFFNError(code, reason, file: path, field: name, offset: 8)
        }
        guard let fields = member.value.objectMembers else {
            throw fail(.invalidJSON, "tensor entry must be an object, found \(member.value.typeName)")
        }
        for f in fields where !["dtype", "shape", "data_offsets"].contains(f.key) {
            throw fail(.invalidJSON, "unknown key '\(f.key)' in tensor entry")
        }
        guard let dtypeName = member.value["dtype"]?.stringValue else {
            throw fail(.invalidJSON, "'dtype' must be a string")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail(.unknownDType, "unknown dtype '\(dtypeName)'")
        }
        guard let shapeValues = member.value["shape"]?.arrayElements else {
            throw fail(.invalidJSON, "'shape' must be an array of integers")
        }
        var shape: [Int] = []
        for v in shapeValues {
            guard let d = v.intValue, d >= 0 else {
                throw fail(.invalidJSON, "'shape' must hold non-negative integers, found \(v.typeName) \(v)")
            }
            shape.append(Int(d))
        }
        guard let offs = member.value["data_offsets"]?.arrayElements, offs.count == 2,
              let b = offs[0].intValue, let e = offs[1].intValue, b >= 0, e >= 0
        else {
            throw fail(.invalidJSON, "'data_offsets' must be [begin, end] with non-negative integers")
        }
        guard b <= e else {
            throw fail(.badLayout, "data_offsets begin \(b) is after end \(e)")
        }
        guard let count = Shape.elementCount(shape), let size = dtype.byteCount(elements: count) else {
            throw fail(.shapeMismatch, "shape \(Shape.describe(shape)) of \(dtype.rawValue) is not a whole number of bytes or overflows")
        }
        guard size == UInt64(e - b) else {
            throw fail(.shapeMismatch, "shape \(Shape.describe(shape)) of \(dtype.rawValue) needs \(size) bytes but data_offsets span \(e - b)")
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataOffsets: UInt64(b)..<UInt64(e))
    }
}
