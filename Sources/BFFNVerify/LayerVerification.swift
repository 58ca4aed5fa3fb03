import BFFNCore
import BFFNModel
import BFFNSafetensors

/// A skill-card layer against a PyTorch reference of a layer forward (`bffn verify LAYER --reference FILE`):
/// a safetensors file with `hidden_states` [..., H] in and `outputs` [..., H] and `gates` [..., E] out (F32;
/// any leading dimensions, tokens being independent), optionally `router_scores` [..., E] (the normalised
/// scores before the sigmoid).
public struct LayerVerification: Sendable {
    /// Tokens compared.
    public var tokens = 0
    /// The largest |bffn − reference| of the outputs, the gates and (when the file has them) the router scores.
    public var maxOutputError: Float = 0, maxGateError: Float = 0, maxScoreError: Float?
    /// The fraction of router scores that are zero (bffn's; the ReLU-level sparsity) and the smallest gate.
    public var reluSparsity = 0.0, smallestGate: Float = 1
    /// Experts computed per token: all of them, as no gate is zero.
    public var expertsComputedPerToken = 0, experts = 0
    /// The limit on the errors (float32 against float32 in another summation order).
    public var tolerance: Float = 1e-4
    public var passed: Bool { maxOutputError <= tolerance && maxGateError <= tolerance && (maxScoreError ?? 0) <= tolerance }

    /// Whether the file at `path` is a layer reference (a safetensors file with `hidden_states`, `outputs` and `gates`).
    public static func isLayerReference(path: String) -> Bool {
        guard let f = try? SafetensorsFile(path: path) else { return false }
        return f.entry(named: "hidden_states") != nil && f.entry(named: "outputs") != nil && f.entry(named: "gates") != nil
    }

    /// Runs `layer` on the reference's hidden states and compares.
    /// - Throws: the reader's errors; `.missingTensor`, `.unknownDType` (not F32) or `.shapeMismatch` naming the tensor.
    public static func run(layer: SkillCardLayer, referencePath path: String) throws -> LayerVerification {
        let f = try SafetensorsFile(path: path)
        func floats(_ name: String, width: Int) throws -> [Float]? {
            guard let e = f.entry(named: name) else { return nil }
            guard e.dtype == .f32 else { throw BFFNError(.unknownDType, "must be F32", file: path, field: name, offset: f.dataStart + e.dataOffsets.lowerBound) }
            guard e.shape.last == width else {
                throw BFFNError(.shapeMismatch, "the last dimension must be \(width), not \(e.shape.last ?? 0)", file: path, field: name, offset: f.dataStart + e.dataOffsets.lowerBound)
            }
            return f.float32Values(of: e)
        }
        let H = layer.hiddenSize, E = layer.experts
        guard let x = try floats("hidden_states", width: H), let outputs = try floats("outputs", width: H), let gates = try floats("gates", width: E) else {
            throw BFFNError(.missingTensor, "a layer reference needs hidden_states, outputs and gates", file: path)
        }
        let T = x.count / H
        guard outputs.count == T * H, gates.count == T * E else {
            throw BFFNError(.shapeMismatch, "outputs and gates must have as many tokens as hidden_states (\(T))", file: path, field: "outputs")
        }
        let mine = layer.forward(x)
        var r = LayerVerification()
        r.tokens = T
        r.experts = E
        r.expertsComputedPerToken = E
        r.maxOutputError = zip(mine.outputs, outputs).map { abs($0 - $1) }.max() ?? 0
        r.maxGateError = zip(mine.gates, gates).map { abs($0 - $1) }.max() ?? 0
        if let scores = try floats("router_scores", width: E), scores.count == T * E {
            r.maxScoreError = zip(mine.routerScores, scores).map { abs($0 - $1) }.max() ?? 0
        }
        r.reluSparsity = mine.reluSparsity
        r.smallestGate = mine.gates.min() ?? 1
        return r
    }

    /// The figures as JSON (`bffn verify --json` for a layer).
    public var json: JSONValue {
        .object([
            ("passed", .bool(passed)), ("kind", "skill_card_layer"), ("tokens", .integer(tokens)),
            ("max_output_error", .double(Double(maxOutputError))), ("max_gate_error", .double(Double(maxGateError))),
            ("max_router_score_error", maxScoreError.map { .double(Double($0)) } ?? .null), ("tolerance", .double(Double(tolerance))),
            ("relu_sparsity", .double(reluSparsity)), ("smallest_gate", .double(Double(smallestGate))),
            ("experts_computed_per_token", .integer(expertsComputedPerToken)), ("experts", .integer(experts)),
        ])
    }

    /// The report as text.
    public var text: String {
        var s = "skill-card layer: \(tokens) tokens, \(experts) experts\n"
        s += "  max |output error|       \(maxOutputError)   (limit \(tolerance))\n"
        s += "  max |gate error|         \(maxGateError)\n"
        if let e = maxScoreError { s += "  max |router score error| \(e)\n" }
        s += "  ReLU-level sparsity      \(fixed(reluSparsity * 100, 1)) % of router scores are zero\n"
        s += "  gates are never zero: sigmoid(0) = 0.5 (smallest gate \(smallestGate)), so all \(expertsComputedPerToken) of \(experts) experts are computed for every token;\n"
        s += "  the sparsity above is the ReLU's, which this layer's gating does not turn into skipped work\n"
        s += (passed ? "PASSED\n" : "FAILED\n")
        return s
    }
}
