import BFFNCore
import BFFNSafetensors

/// Reference outputs in the schema of the published references (fixtures/README.md, formats/reference.md):
/// a safetensors file with `input_ids` (I64 [T]), `logits` (F32 [T, V]), optional `greedy_ids` (I64 [N]) and
/// optional `router_l{i}` (F32 [T, E], source expert order) for consecutive layers from 0.
public struct ReferenceFile: Sendable {
    /// The file's path.
    public var path: String
    /// The prompt.
    public var inputIds: [Int]
    /// Logits at every prompt position, T rows of `vocabularySize`.
    public var logits: [Float]
    /// The vocabulary size V.
    public var vocabularySize: Int
    /// The greedy continuation (empty when absent).
    public var greedyIds: [Int]
    /// Per layer, T rows of E router scores (empty when absent).
    public var routers: [[Float]]
    /// Experts per router row (0 without routers).
    public var experts: Int

    /// True when `path` is a safetensors file holding `input_ids` and `logits` (and so a reference, not a model).
    public static func isReference(path: String) -> Bool {
        guard let f = try? SafetensorsFile(path: path) else { return false }
        return f.entry(named: "input_ids") != nil && f.entry(named: "logits") != nil
    }

    /// Reads and checks a reference file.
    /// - Throws: the safetensors reader's errors; `.missingTensor` without `input_ids` or `logits`;
    ///   `.unknownDType` or `.shapeMismatch` naming the tensor and its byte offset when a tensor has another
    ///   dtype or shape than the schema; `.outOfBounds` for a negative token id.
    public init(path: String) throws {
        let f = try SafetensorsFile(path: path)
        self.path = path
        func entry(_ name: String, _ dtype: DType, rank: Int, required: Bool) throws -> SafetensorsEntry? {
            guard let e = f.entry(named: name) else {
                if required { throw BFFNError(.missingTensor, "a reference file needs '\(name)'", file: path, field: name) }
                return nil
            }
            let offset = f.dataStart + e.dataOffsets.lowerBound
            guard e.dtype == dtype else {
                throw BFFNError(.unknownDType, "expected \(dtype.rawValue), found \(e.dtype.rawValue)", file: path, field: name, offset: offset)
            }
            guard e.shape.count == rank else {
                throw BFFNError(.shapeMismatch, "expected \(rank) dimensions, found shape \(e.shape)", file: path, field: name, offset: offset)
            }
            return e
        }
        func ints(_ e: SafetensorsEntry) throws -> [Int] {
            let raw = f.bytes(of: e)
            let values = (0..<(raw.count / 8)).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            if let i = values.firstIndex(where: { $0 < 0 }) {
                throw BFFNError(.outOfBounds, "token id \(values[i]) at index \(i) is negative", file: path, field: e.name,
                                offset: f.dataStart + e.dataOffsets.lowerBound + UInt64(i * 8))
            }
            return values
        }
        func floats(_ e: SafetensorsEntry) -> [Float] {
            let raw = f.bytes(of: e)
            return (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        let ids = try entry("input_ids", .i64, rank: 1, required: true)!
        inputIds = try ints(ids)
        guard !inputIds.isEmpty else { throw BFFNError(.shapeMismatch, "the prompt is empty", file: path, field: "input_ids") }
        let l = try entry("logits", .f32, rank: 2, required: true)!
        guard l.shape[0] == inputIds.count, l.shape[1] > 0 else {
            throw BFFNError(.shapeMismatch, "logits shape \(l.shape) does not match \(inputIds.count) input ids", file: path, field: "logits",
                            offset: f.dataStart + l.dataOffsets.lowerBound)
        }
        vocabularySize = l.shape[1]
        logits = floats(l)
        greedyIds = try entry("greedy_ids", .i64, rank: 1, required: false).map(ints) ?? []
        var routers: [[Float]] = []
        var experts = 0
        while let r = try entry("router_l\(routers.count)", .f32, rank: 2, required: false) {
            guard r.shape[0] == inputIds.count, routers.isEmpty || r.shape[1] == experts else {
                throw BFFNError(.shapeMismatch, "router shape \(r.shape) does not match \(inputIds.count) tokens x \(experts) experts",
                                file: path, field: r.name, offset: f.dataStart + r.dataOffsets.lowerBound)
            }
            experts = r.shape[1]
            routers.append(floats(r))
        }
        self.routers = routers
        self.experts = experts
    }
}
