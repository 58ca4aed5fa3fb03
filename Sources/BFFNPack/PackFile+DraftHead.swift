import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

extension PackFile {
    /// The `draft_head` section of a manifest: an EAGLE head's config and tensors, and its draft vocabulary.
    public struct DraftHeadSection: Sendable {
        /// `"eagle"`, the only kind.
        public var kind: String
        /// The head's config.json object, verbatim.
        public var config: JSONValue
        /// The head's tensors (checkpoint names), stored in the head's own dtype (F32, F16 or BF16).
        public var tensors: [DenseTensor]
        /// The reduced draft vocabulary as little-endian int32 ids (`name` "vocabulary"), nil for the identity.
        public var vocabulary: Attachment?
        /// V_draft when `vocabulary` is present.
        public var vocabularyCount: Int?
    }

    /// Parses the optional `draft_head` manifest value (absent or null: none).
    /// - Throws: `.invalidJSON` naming the field; the tensor entries' checks; `.unsupported` for another kind or a
    ///   quantized head tensor.
    static func draftHeadSection(_ d: JSONValue?, path: String, manifestOffset at: UInt64, dataEnd: UInt64) throws -> DraftHeadSection? {
        guard let d, d != .null else { return nil }
        func fail(_ key: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: key, offset: at) }
        guard let kind = d["kind"]?.stringValue else { throw fail("draft_head.kind", "'draft_head' needs a kind") }
        guard kind == "eagle" else { throw BFFNError(.unsupported, "draft head kind '\(kind)' is not known (eagle is)", file: path, field: "draft_head.kind", offset: at) }
        guard let config = d["config"], config.objectMembers != nil else { throw fail("draft_head.config", "'draft_head.config' must be an object") }
        guard let list = d["tensors"]?.arrayElements else { throw fail("draft_head.tensors", "'draft_head.tensors' must be an array") }
        var tensors: [DenseTensor] = []
        var names = Set<String>()
        for t in list {
            let e = try tensorEntry(t, path: path, manifestOffset: at, dataEnd: dataEnd, section: "draft_head.tensors")
            guard e.storage.isFloat else {
                throw BFFNError(.unsupported, "draft head tensors are stored as F32, F16 or BF16", file: path, field: "draft_head \(e.name)", offset: e.offset)
            }
            guard names.insert(e.name).inserted else { throw BFFNError(.duplicateName, "tensor listed twice", file: path, field: "draft_head \(e.name)", offset: at) }
            tensors.append(e)
        }
        var vocabulary: Attachment? = nil, count: Int? = nil
        if let v = d["vocabulary"], v != .null {
            let n: Int = try CheckedNumbers.integer(v["count"], in: 1...(1 << 24), file: path, field: "draft_head.vocabulary.count", offset: at)
            let off: UInt64 = try CheckedNumbers.integer(v["offset"], in: 64...(1 << 52), file: path, field: "draft_head.vocabulary.offset", offset: at)
            let bytes: UInt64 = try CheckedNumbers.integer(v["bytes"], in: 0...(1 << 52), file: path, field: "draft_head.vocabulary.bytes", offset: at)
            let crc: UInt32 = try CheckedNumbers.integer(v["crc32"], in: 0...UInt32.max, file: path, field: "draft_head.vocabulary.crc32", offset: at)
            guard bytes == UInt64(n) * 4, off % 64 == 0, off + bytes <= dataEnd else {
                throw BFFNError(.outOfBounds, "the draft vocabulary must be \(n) int32 ids at a 64-aligned offset inside the data region",
                                file: path, field: "draft_head.vocabulary", offset: off)
            }
            vocabulary = Attachment(name: "vocabulary", offset: off, bytes: bytes, crc32: crc)
            count = n
        }
        return DraftHeadSection(kind: kind, config: config, tensors: tensors, vocabulary: vocabulary, vocabularyCount: count)
    }

    /// The EAGLE head and draft vocabulary this pack carries (weights mapped from the pack), or nil.
    /// - Throws: `.invalidConfig` for the head's config; `.missingTensor` / `.shapeMismatch` naming a tensor;
    ///   `.checksumMismatch` for a damaged vocabulary; the vocabulary's checks (ids inside the model's vocabulary,
    ///   none repeated).
    public func eagleHead() throws -> (head: EagleHead, vocabulary: DraftVocabulary)? {
        guard let d = draftHead else { return nil }
        guard let fc = d.tensors.first(where: { $0.name == "fc.weight" }), fc.shape.count == 2, fc.shape[1] == 2 * fc.shape[0] else {
            throw BFFNError(.missingTensor, "the draft head needs fc.weight [H, 2H]", file: path, field: "draft_head fc.weight")
        }
        let config = try EagleConfig(config: try ModelConfig(json: d.config, path: path), hiddenSize: fc.shape[0], file: path)
        let byName = Dictionary(uniqueKeysWithValues: d.tensors.map { ($0.name, $0) })
        let head = try EagleHead(config: config, file: path) { name in
            guard let t = byName[name] else { return nil }
            let rows = t.shape.count >= 2 ? t.shape[0] : 1
            return WeightMatrix(base: bytes(at: t.offset, count: t.bytes).bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!,
                                type: t.storage, rows: rows, cols: t.shape.count >= 2 ? t.shape.dropFirst().reduce(1, *) : (t.shape.first ?? 1))
        }
        head.keepAlive = [self]
        var vocabulary = DraftVocabulary.identity(architecture.vocabSize)
        if let v = d.vocabulary, let n = d.vocabularyCount {
            let ids = bytes(at: v.offset, count: v.bytes).withBytes { raw -> [Int]? in
                guard CRC32.checksum(raw) == v.crc32 else { return nil }
                return (0..<n).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            }
            guard let ids else { throw BFFNError(.checksumMismatch, "draft vocabulary CRC-32 does not match", file: path, field: "draft_head.vocabulary", offset: v.offset) }
            vocabulary = try DraftVocabulary(ids: ids, size: n, targetVocabulary: architecture.vocabSize, file: path)
        }
        return (head, vocabulary)
    }
}
