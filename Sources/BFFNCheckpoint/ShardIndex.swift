import BFFNCore

/// A sharded checkpoint's index (`model.safetensors.index.json` or `pytorch_model.bin.index.json`):
/// `{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}`.
public struct ShardIndex: Sendable {
    /// Tensor name → shard file name (relative to the index's folder), in file order.
    public var weightMap: [(tensor: String, file: String)]
    /// The shard files in first-mention order.
    public var shardFiles: [String]

    /// Parses an index file.
    /// - Throws: `.invalidJSON` naming the key when `weight_map` is missing or holds a non-string, and
    ///   `.malformed` for a shard name that is absolute or climbs out of the folder (`..`).
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        let json = try file.withBytes { try JSONValue.parse($0, file: path, what: "shard index") }
        guard let map = json["weight_map"]?.objectMembers else {
            throw BFFNError(.invalidJSON, "shard index needs a 'weight_map' object", file: path, field: "weight_map")
        }
        var pairs: [(String, String)] = []
        var files: [String] = []
        var seen = Set<String>()
        for m in map {
            guard let f = m.value.stringValue else {
                throw BFFNError(.invalidJSON, "weight_map value must be a file name string, found \(m.value.typeName)",
                                file: path, field: "weight_map.\(m.key)")
            }
            guard !f.isEmpty, !f.hasPrefix("/"), !f.split(separator: "/").contains("..") else {
                throw BFFNError(.malformed, "shard file name '\(f)' must stay inside the checkpoint folder", file: path,
                                field: "weight_map.\(m.key)")
            }
            pairs.append((m.key, f))
            if seen.insert(f).inserted { files.append(f) }
        }
        weightMap = pairs
        shardFiles = files
    }
}
