import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNSafetensors

/// Which experts every token activated in every layer, with their scores: what an expert cache will be asked
/// for, recorded once so that cache policies can be compared offline (`bffn trace`; formats/trace.md).
public struct RoutingTrace: Sendable {
    /// Layers, experts per layer, and the bytes of one expert block (up and down weights as the model stores them).
    public var layers: Int, experts: Int, expertBytes: Int
    /// The token ids, all sequences concatenated, and where each sequence starts.
    public var tokens: [Int], sequenceStarts: [Int]
    /// Router scores [layers][tokens × experts] after the ReLU and normalisation (0: inactive), experts in source
    /// order.
    public var scores: [[Float]]
    /// The model it came from (for reports).
    public var model: String

    /// Tokens recorded.
    public var tokenCount: Int { tokens.count }

    /// Runs `weights` over each sequence (one forward call per sequence on an empty cache) and records the routing.
    /// - Throws: `.unsupported` for a dense model; the engine's errors.
    public static func record(weights: ModelWeights, sequences: [[Int]], threads: Int, model: String) throws -> RoutingTrace {
        let E = weights.architecture.numExperts, L = weights.architecture.numLayers
        guard E > 0 else { throw BFFNError(.unsupported, "a dense model has no routing to trace", file: model) }
        let engine = try Engine(weights: weights, options: EngineOptions(threads: threads))
        var trace = RoutingTrace(layers: L, experts: E, expertBytes: weights.bytesPerExpert, tokens: [], sequenceStarts: [],
                                 scores: Array(repeating: [], count: L), model: model)
        for s in sequences where !s.isEmpty {
            trace.sequenceStarts.append(trace.tokens.count)
            trace.tokens += s
            let out = try engine.forwardCapturing(s)
            let routers = weights.sourceOrdered(out.routerScores)
            for l in 0..<L { trace.scores[l] += routers[l] }
        }
        return trace
    }

    /// The active experts of token `t` in layer `l`, ascending.
    public func active(layer l: Int, token t: Int) -> [Int] {
        (0..<experts).filter { scores[l][t * experts + $0] != 0 }
    }

    /// Writes the trace as safetensors (formats/trace.md) to `path`, atomically.
    /// - Throws: the writer's errors; `.outputExists` without `overwrite`.
    public func write(to path: String, overwrite: Bool) throws {
        func ints(_ v: [Int]) -> [UInt8] { v.map { Int64($0) }.withUnsafeBytes { Array($0) } }
        var all: [Float] = []
        all.reserveCapacity(layers * tokens.count * experts)
        for l in 0..<layers { all += scores[l] }
        try SafetensorsWriter.write([
            .init(name: "tokens", dtype: .i64, shape: [tokens.count], bytes: ints(tokens)),
            .init(name: "sequence_starts", dtype: .i64, shape: [sequenceStarts.count], bytes: ints(sequenceStarts)),
            .init(name: "scores", dtype: .f32, shape: [layers, tokens.count, experts], bytes: all.withUnsafeBytes { Array($0) }),
        ], metadata: [("format", "bffn-routing-trace"), ("version", "1"), ("expert_bytes", String(expertBytes)), ("model", model)],
           to: path, overwrite: overwrite)
    }

    /// Reads a trace written by `write(to:overwrite:)`.
    /// - Throws: the reader's errors; `.missingTensor`, `.unknownDType` or `.shapeMismatch` naming the tensor;
    ///   `.invalidJSON` for metadata that is not a routing trace's.
    public init(path: String) throws {
        let f = try SafetensorsFile(path: path)
        let meta = Dictionary(f.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard meta["format"] == "bffn-routing-trace", meta["version"] == "1" else {
            throw BFFNError(.invalidJSON, "not a bffn routing trace (metadata format bffn-routing-trace, version 1)", file: path, field: "__metadata__")
        }
        guard let bytes = meta["expert_bytes"].flatMap(Int.init), bytes > 0 else {
            throw BFFNError(.invalidJSON, "expert_bytes must be a positive integer", file: path, field: "__metadata__.expert_bytes")
        }
        func entry(_ name: String, _ dtype: DType, rank: Int) throws -> SafetensorsEntry {
            guard let e = f.entry(named: name) else { throw BFFNError(.missingTensor, "tensor is missing", file: path, field: name) }
            guard e.dtype == dtype else { throw BFFNError(.unknownDType, "must be \(dtype)", file: path, field: name, offset: f.dataStart + e.dataOffsets.lowerBound) }
            guard e.shape.count == rank else { throw BFFNError(.shapeMismatch, "must have \(rank) dimensions", file: path, field: name, offset: f.dataStart + e.dataOffsets.lowerBound) }
            return e
        }
        let t = try entry("tokens", .i64, rank: 1), s = try entry("sequence_starts", .i64, rank: 1), sc = try entry("scores", .f32, rank: 3)
        let (L, N, E) = (sc.shape[0], sc.shape[1], sc.shape[2])
        guard t.shape[0] == N, L > 0, E > 0 else {
            throw BFFNError(.shapeMismatch, "scores must be [layers, \(t.shape[0]) tokens, experts]", file: path, field: "scores")
        }
        let starts = f.int64Values(of: s)
        guard starts.first == 0 || N == 0, zip(starts, starts.dropFirst()).allSatisfy({ $0 < $1 }), (starts.last ?? 0) < max(N, 1) else {
            throw BFFNError(.shapeMismatch, "sequence_starts must rise from 0 below the token count", file: path, field: "sequence_starts")
        }
        let all = f.float32Values(of: sc)
        self.init(layers: L, experts: E, expertBytes: bytes, tokens: f.int64Values(of: t), sequenceStarts: starts,
                  scores: (0..<L).map { Array(all[($0 * N * E)..<(($0 + 1) * N * E)]) }, model: meta["model"] ?? "")
    }

    /// Memberwise.
    public init(layers: Int, experts: Int, expertBytes: Int, tokens: [Int], sequenceStarts: [Int], scores: [[Float]], model: String) {
        (self.layers, self.experts, self.expertBytes, self.tokens, self.sequenceStarts, self.scores, self.model) =
            (layers, experts, expertBytes, tokens, sequenceStarts, scores, model)
    }
}
