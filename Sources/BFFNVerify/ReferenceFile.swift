import BFFNCore
import BFFNSafetensors

/// Reference outputs in the schema of formats/reference.md: a safetensors file with `input_ids` (I64 [T], or
/// [B, T] for B prompts of T tokens), `logits` (F32 [T, V] or [B, T, V]), optional `greedy_ids` (I64 [N] or
/// [B, N]) and optional `router_l{i}` (F32 [T, E] or [B, T, E], source expert order) for consecutive layers from
/// 0. A batched file is what a batched PyTorch run writes; every tensor present must have the same B.
public struct ReferenceFile: Sendable {
    /// One prompt's reference outputs.
    public struct Prompt: Sendable {
        /// The prompt.
        public var inputIds: [Int]
        /// Logits at every prompt position, T rows of `vocabularySize`.
        public var logits: [Float]
        /// The greedy continuation (empty when absent).
        public var greedyIds: [Int]
        /// Per layer, T rows of E router scores (empty when absent).
        public var routers: [[Float]]
    }

    /// The file's path.
    public var path: String
    /// The prompts (one for an unbatched file).
    public var prompts: [Prompt]
    /// The vocabulary size V.
    public var vocabularySize: Int
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
    ///   dtype, rank or batch size than the schema; `.outOfBounds` for a negative token id.
    public init(path: String) throws {
        let f = try SafetensorsFile(path: path)
        self.path = path
        // The batch size: 1 for rank-1 input_ids, else their first dimension.
        var batch = 1, batched = false
        func entry(_ name: String, _ dtype: DType, rank: Int, required: Bool) throws -> SafetensorsEntry? {
            guard let e = f.entry(named: name) else {
                if required { throw BFFNError(.missingTensor, "a reference file needs '\(name)'", file: path, field: name) }
                return nil
            }
            let offset = f.dataStart + e.dataOffsets.lowerBound
            guard e.dtype == dtype else {
                throw BFFNError(.unknownDType, "expected \(dtype.rawValue), found \(e.dtype.rawValue)", file: path, field: name, offset: offset)
            }
            guard e.shape.count == rank + (batched ? 1 : 0) else {
                throw BFFNError(.shapeMismatch, "expected \(rank + (batched ? 1 : 0)) dimensions, found shape \(e.shape)", file: path, field: name, offset: offset)
            }
            if batched && e.shape[0] != batch {
                throw BFFNError(.shapeMismatch, "batch of \(e.shape[0]) where input_ids has \(batch) prompts", file: path, field: name, offset: offset)
            }
            return e
        }
        func ints(_ e: SafetensorsEntry) throws -> [Int] {
            let values = f.int64Values(of: e)
            if let i = values.firstIndex(where: { $0 < 0 }) {
                throw BFFNError(.outOfBounds, "token id \(values[i]) at index \(i) is negative", file: path, field: e.name,
                                offset: f.dataStart + e.dataOffsets.lowerBound + UInt64(i * 8))
            }
            return values
        }
        func floats(_ e: SafetensorsEntry) -> [Float] { f.float32Values(of: e) }
        /// `values` cut into `batch` equal rows.
        func split<T>(_ values: [T]) -> [[T]] {
            let n = values.count / batch
            return (0..<batch).map { Array(values[($0 * n)..<(($0 + 1) * n)]) }
        }
        guard let idsEntry = f.entry(named: "input_ids") else {
            throw BFFNError(.missingTensor, "a reference file needs 'input_ids'", file: path, field: "input_ids")
        }
        if idsEntry.shape.count == 2 {
            batched = true
            batch = idsEntry.shape[0]
            guard batch > 0 else { throw BFFNError(.shapeMismatch, "the batch is empty", file: path, field: "input_ids") }
        }
        let ids = try entry("input_ids", .i64, rank: 1, required: true)!
        let T = ids.shape.last ?? 0
        guard T > 0 else { throw BFFNError(.shapeMismatch, "the prompt is empty", file: path, field: "input_ids") }
        let inputIds = split(try ints(ids))
        let l = try entry("logits", .f32, rank: 2, required: true)!
        let V = l.shape.last ?? 0
        guard l.shape[l.shape.count - 2] == T, V > 0 else {
            throw BFFNError(.shapeMismatch, "logits shape \(l.shape) does not match \(T) input ids per prompt", file: path, field: "logits",
                            offset: f.dataStart + l.dataOffsets.lowerBound)
        }
        vocabularySize = V
        let logits = split(floats(l))
        let greedy = try entry("greedy_ids", .i64, rank: 1, required: false).map { split(try ints($0)) } ?? Array(repeating: [], count: batch)
        var routers: [[[Float]]] = []   // per layer, per prompt
        var experts = 0
        while let r = try entry("router_l\(routers.count)", .f32, rank: 2, required: false) {
            guard r.shape[r.shape.count - 2] == T, routers.isEmpty || r.shape.last == experts else {
                throw BFFNError(.shapeMismatch, "router shape \(r.shape) does not match \(T) tokens x \(experts) experts",
                                file: path, field: r.name, offset: f.dataStart + r.dataOffsets.lowerBound)
            }
            experts = r.shape.last ?? 0
            routers.append(split(floats(r)))
        }
        self.experts = experts
        prompts = (0..<batch).map { b in
            Prompt(inputIds: inputIds[b], logits: logits[b], greedyIds: greedy[b], routers: routers.map { $0[b] })
        }
    }
}
