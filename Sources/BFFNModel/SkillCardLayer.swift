import BFFNCheckpoint
import BFFNCore
import BFFNKernels

/// The educational single BlockFFN layer of the BlockFFN skill card, which people learn from (docs/model.md,
/// "The skill-card layer"): router `router_linear` (no bias) → ReLU → `rms_norm` (RMSNorm over the experts with a
/// weight and float32 machine epsilon) → sigmoid(sharpness × ·) as gates; experts `fc1` (with bias) → SiLU →
/// `fc2` (with bias); every expert's output gated and summed; `norm` = LayerNorm(sum + x) (eps 1e-5).
///
/// Its gates are never zero (sigmoid(0) = 0.5), so every expert is computed for every token; the sparsity it
/// has is at the ReLU, before the gates.
public struct SkillCardLayer: Sendable {
    /// H, E and de.
    public let hiddenSize: Int, experts: Int, expertSize: Int
    /// The router's sigmoid sharpness (a constructor argument of the card's router: config.json `sharpness`, a
    /// flag, or 1.0).
    public var sharpness: Double
    /// Router [E, H] and its RMSNorm weight [E].
    public let router: [Float], routerNormWeight: [Float]
    /// Per expert: fc1 [de, H] and its bias [de]; fc2 [H, de] and its bias [H].
    public let fc1: [[Float]], fc1Bias: [[Float]], fc2: [[Float]], fc2Bias: [[Float]]
    /// LayerNorm weight and bias [H].
    public let normWeight: [Float], normBias: [Float]

    /// The RMSNorm epsilon: `nn.RMSNorm(num_experts)` without eps uses the float32 machine epsilon.
    public static let rmsNormEpsilon = Float.ulpOfOne
    /// `nn.LayerNorm`'s default epsilon.
    public static let layerNormEpsilon: Float = 1e-5

    /// The tensor names of the card's `state_dict()`.
    public enum Names {
        public static let router = "router.router_linear.weight", routerNorm = "router.rms_norm.weight"
        public static let norm = "norm.weight", normBias = "norm.bias"
        public static func fc1(_ e: Int) -> String { "experts.\(e).fc1.weight" }
        public static func fc1Bias(_ e: Int) -> String { "experts.\(e).fc1.bias" }
        public static func fc2(_ e: Int) -> String { "experts.\(e).fc2.weight" }
        public static func fc2Bias(_ e: Int) -> String { "experts.\(e).fc2.bias" }
    }

    /// Creates a layer from its weights; checks every shape.
    /// - Throws: `.shapeMismatch` naming the first tensor whose size does not fit H, E and de.
    public init(hiddenSize H: Int, experts E: Int, expertSize de: Int, sharpness: Double, router: [Float], routerNormWeight: [Float],
                fc1: [[Float]], fc1Bias: [[Float]], fc2: [[Float]], fc2Bias: [[Float]], normWeight: [Float], normBias: [Float]) throws {
        func check(_ ok: Bool, _ name: String, _ want: String) throws {
            guard ok else { throw BFFNError(.shapeMismatch, "expected \(want) elements", field: name) }
        }
        try check(router.count == E * H, Names.router, "[\(E), \(H)]")
        try check(routerNormWeight.count == E, Names.routerNorm, "[\(E)]")
        try check(normWeight.count == H, Names.norm, "[\(H)]")
        try check(normBias.count == H, Names.normBias, "[\(H)]")
        try check(fc1.count == E && fc1Bias.count == E && fc2.count == E && fc2Bias.count == E, "experts", "\(E) experts")
        for e in 0..<E {
            try check(fc1[e].count == de * H, Names.fc1(e), "[\(de), \(H)]")
            try check(fc1Bias[e].count == de, Names.fc1Bias(e), "[\(de)]")
            try check(fc2[e].count == H * de, Names.fc2(e), "[\(H), \(de)]")
            try check(fc2Bias[e].count == H, Names.fc2Bias(e), "[\(H)]")
        }
        (hiddenSize, experts, expertSize, self.sharpness) = (H, E, de, sharpness)
        (self.router, self.routerNormWeight, self.fc1, self.fc1Bias, self.fc2, self.fc2Bias) = (router, routerNormWeight, fc1, fc1Bias, fc2, fc2Bias)
        (self.normWeight, self.normBias) = (normWeight, normBias)
    }

    /// Whether `checkpoint` holds a skill-card layer (its router tensor is present and no model embedding is).
    public static func recognizes(_ checkpoint: Checkpoint) -> Bool {
        checkpoint.tensor(named: Names.router) != nil && checkpoint.tensor(named: Names.fc1(0)) != nil
    }

    /// Reads the layer from `checkpoint`. The sharpness is `sharpness` when given, else config.json's
    /// `sharpness`, else 1.0.
    /// - Throws: `.missingTensor` naming a missing tensor; `.shapeMismatch` for inconsistent shapes; the readers'
    ///   errors; `.unsupported` for a dtype other than F32, F16 and BF16.
    public init(checkpoint: Checkpoint, sharpness: Double? = nil) throws {
        func values(_ name: String) throws -> (shape: [Int], values: [Float]) {
            guard let t = checkpoint.tensor(named: name) else { throw BFFNError(.missingTensor, "tensor is missing", file: checkpoint.primaryFile, field: name) }
            let b = try checkpoint.bytes(of: t)
            let m = try ModelWeights.view(b.bytes, dtype: t.dtype, shape: t.shape, rows: nil, cols: nil, name: name)
            var out: [Float] = []
            out.reserveCapacity(m.rows * m.cols)
            for r in 0..<m.rows { out += m.rowValues(r) }
            return (t.shape, out)
        }
        let router = try values(Names.router)
        guard router.shape.count == 2 else { throw BFFNError(.shapeMismatch, "the router must be [E, H]", field: Names.router) }
        let (E, H) = (router.shape[0], router.shape[1])
        let first = try values(Names.fc1(0))
        guard first.shape.count == 2, first.shape[1] == H else { throw BFFNError(.shapeMismatch, "fc1 must be [de, \(H)]", field: Names.fc1(0)) }
        let de = first.shape[0]
        var s = sharpness ?? 1.0
        if sharpness == nil, let path = checkpoint.configPath {
            let json = try MappedFile(path: path).withBytes { try JSONValue.parse($0, file: path, what: "config.json") }
            if let v = json["sharpness"], v != .null {
                guard let d = v.numberValue, d.isFinite else { throw BFFNError(.invalidConfig, "sharpness must be a number", file: path, field: "sharpness") }
                s = d
            }
        }
        try self.init(hiddenSize: H, experts: E, expertSize: de, sharpness: s, router: router.values,
                      routerNormWeight: try values(Names.routerNorm).values,
                      fc1: try (0..<E).map { try values(Names.fc1($0)).values }, fc1Bias: try (0..<E).map { try values(Names.fc1Bias($0)).values },
                      fc2: try (0..<E).map { try values(Names.fc2($0)).values }, fc2Bias: try (0..<E).map { try values(Names.fc2Bias($0)).values },
                      normWeight: try values(Names.norm).values, normBias: try values(Names.normBias).values)
    }

    /// What one forward call gives, per token: outputs [T, H], gates [T, E] (sigmoid of the sharpened normalised
    /// scores), router scores [T, E] (ReLU then RMSNorm, before the sigmoid).
    public struct Output: Sendable {
        public var outputs: [Float], gates: [Float], routerScores: [Float]
        /// The fraction of router scores that are zero (the ReLU-level sparsity; the gates are never zero).
        public var reluSparsity: Double { Double(routerScores.filter { $0 == 0 }.count) / Double(max(routerScores.count, 1)) }
    }

    /// The layer on T tokens of hidden states x [T, H] (float32; tokens are independent).
    public func forward(_ x: [Float]) -> Output {
        let H = hiddenSize, E = experts, de = expertSize
        let T = x.count / max(H, 1)
        var out = Output(outputs: [Float](repeating: 0, count: T * H), gates: [Float](repeating: 0, count: T * E),
                         routerScores: [Float](repeating: 0, count: T * E))
        var hidden = [Float](repeating: 0, count: de), sum = [Float](repeating: 0, count: H)
        for t in 0..<T {
            let xt = Array(x[(t * H)..<((t + 1) * H)])
            // Router: ReLU, RMSNorm with weight, sigmoid(sharpness ·).
            var scores = (0..<E).map { e in max(Self.dot(router, e * H, xt, 0, H), 0) }
            var squares: Float = 0
            for v in scores { squares += v * v }
            let inv = 1 / (squares / Float(E) + Self.rmsNormEpsilon).squareRoot()
            for e in 0..<E { scores[e] = routerNormWeight[e] * (scores[e] * inv) }
            for e in 0..<E {
                out.routerScores[t * E + e] = scores[e]
                out.gates[t * E + e] = Float(1 / (1 + exp(-sharpness * Double(scores[e]))))
            }
            // Every expert (no gate is zero), gated and summed in expert order.
            for j in 0..<H { sum[j] = 0 }
            for e in 0..<E {
                for i in 0..<de {
                    let a = Self.dot(fc1[e], i * H, xt, 0, H) + fc1Bias[e][i]
                    hidden[i] = a / (1 + exp(-a))
                }
                let g = out.gates[t * E + e]
                for j in 0..<H { sum[j] += g * (Self.dot(fc2[e], j * de, hidden, 0, de) + fc2Bias[e][j]) }
            }
            // LayerNorm(sum + x).
            var mean: Float = 0
            for j in 0..<H { sum[j] += xt[j]; mean += sum[j] }
            mean /= Float(H)
            var variance: Float = 0
            for j in 0..<H { variance += (sum[j] - mean) * (sum[j] - mean) }
            variance /= Float(H)
            let scale = 1 / (variance + Self.layerNormEpsilon).squareRoot()
            for j in 0..<H { out.outputs[t * H + j] = (sum[j] - mean) * scale * normWeight[j] + normBias[j] }
        }
        return out
    }

    /// a[ao ..< ao + n] · b[bo ..< bo + n], in the kernels' fixed reduction order (`Dot`).
    @inline(__always) static func dot(_ a: [Float], _ ao: Int, _ b: [Float], _ bo: Int, _ n: Int) -> Float {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in Dot.dot(ap.baseAddress! + ao, bp.baseAddress! + bo, n) } }
    }

    /// Parameters in all (router, router norm, experts with biases, LayerNorm).
    public var parameterCount: Int { experts * hiddenSize + experts + experts * (2 * expertSize * hiddenSize + expertSize + hiddenSize) + 2 * hiddenSize }
}
