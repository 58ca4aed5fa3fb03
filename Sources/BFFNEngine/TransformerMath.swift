import BFFNCheckpoint
import BFFNCore

/// The small transformer math every forward pass here shares (the engine, the EAGLE and model drafters, the logit
/// comparisons of `bffn verify`): softmax, log-softmax and rotary position embeddings. One implementation each, in
/// one fixed order of operations, so that what the engine computes (and its tests compare with the PyTorch
/// references) and what a drafter or a comparison computes are the same bits. The model's scales live beside its
/// config (`ModelScales`).
public enum TransformerMath {
    /// `n` scores turned into probabilities in place: the maximum, then exp(s - max) and their float sum in order,
    /// then each exponential divided by the sum (attention's softmax).
    @inline(__always)
    public static func softmax(_ scores: UnsafeMutablePointer<Float>, count n: Int) {
        var maxS = -Float.infinity
        for i in 0..<n where scores[i] > maxS { maxS = scores[i] }
        var sum: Float = 0
        for i in 0..<n {
            let e = expf(scores[i] - maxS)
            scores[i] = e
            sum += e
        }
        for i in 0..<n { scores[i] = scores[i] / sum }
    }

    /// The maximum of `logits` and Σ exp(x - max), each exponential in float, summed in double in order.
    @inline(__always)
    static func shiftedExponentialSum(_ logits: UnsafeBufferPointer<Float>) -> (max: Float, sum: Double) {
        var m = -Float.infinity
        for v in logits where v > m { m = v }
        var sum = 0.0
        for v in logits { sum += Double(expf(v - m)) }
        return (m, sum)
    }

    /// log Σ exp(logits) in double: max + log Σ exp(x - max), the exponentials as `shiftedExponentialSum` (a
    /// drafter's log-probabilities are logit - this).
    public static func logNormalizer(_ logits: ArraySlice<Float>) -> Double {
        let (m, sum) = logits.withUnsafeBufferPointer { shiftedExponentialSum($0) }
        return Double(m) + log(sum)
    }

    /// Log-softmax in place over float logits: each minus (max + log Σ exp(x - max)), the normalizer rounded to
    /// float (the EAGLE head's draft log-probabilities).
    public static func logSoftmax(_ logits: UnsafeMutableBufferPointer<Float>) {
        let (m, sum) = shiftedExponentialSum(UnsafeBufferPointer(logits))
        let logZ = m + Float(log(sum))
        for j in logits.indices { logits[j] -= logZ }
    }

    /// Log-softmax in double precision (the logit comparisons of `bffn verify`): x - (max + log Σ exp(x - max)),
    /// the sum in order.
    public static func logSoftmax(_ x: [Double]) -> [Double] {
        let m = x.max() ?? 0
        var s = 0.0
        for v in x { s += exp(v - m) }
        let z = m + log(s)
        return x.map { $0 - z }
    }

    /// Log-softmax in double precision of a row of float logits.
    public static func logSoftmax(_ row: ArraySlice<Float>) -> [Double] { logSoftmax(row.map(Double.init)) }
}

/// Rotate-half rotary position embeddings over `dimensions` (even) numbers of a head, with config.json's
/// `rope_theta` and `rope_scaling` (docs/model.md, decision 11): the one implementation the engine and the EAGLE
/// drafter use.
public struct RotaryEmbedding: Sendable, Equatable {
    /// The rotated width of one head (the rotary part of an MLA key).
    public let dimensions: Int
    /// The base θ (`rope_theta`).
    public let theta: Float
    /// `rope_scaling` (linear or dynamic NTK), nil for none.
    public let scaling: ModelConfig.RopeScaling?
    /// `max_position_embeddings`, the length dynamic scaling starts beyond.
    public let maxPositions: Int

    /// The embedding of a head `dimensions` wide.
    public init(dimensions: Int, theta: Float, scaling: ModelConfig.RopeScaling?, maxPositions: Int) {
        (self.dimensions, self.theta, self.scaling, self.maxPositions) = (dimensions, theta, scaling, maxPositions)
    }

    /// The embedding a config gives a head `dimensions` wide: `rope_theta` (10000 when absent), `rope_scaling`,
    /// `max_position_embeddings` (4096 when absent).
    public init(config c: ModelConfig, dimensions: Int) {
        self.init(dimensions: dimensions, theta: Float(c.ropeTheta ?? 10000), scaling: c.ropeScaling,
                  maxPositions: c.maxPositionEmbeddings ?? 4096)
    }

    /// The inverse frequencies, `dimensions / 2`, for a sequence of `seq` tokens (dynamic scaling raises θ beyond
    /// `maxPositions`).
    public func inverseFrequencies(sequenceLength seq: Int) -> [Float] {
        var theta = self.theta
        if let s = scaling, s.type == "dynamic", seq > maxPositions {
            let f = Double(s.factor)
            theta = Float(Double(self.theta) * pow((f * Double(seq) / Double(maxPositions)) - (f - 1), Double(dimensions) / Double(dimensions - 2)))
        }
        return (0..<(dimensions / 2)).map { 1 / powf(theta, Float(2 * $0) / Float(dimensions)) }
    }

    /// cos/sin tables, `dimensions / 2` per token. Dynamic NTK scaling: a call on an empty cache (`prefill`)
    /// scales every token by the call's length, as the published code's one-shot forward does; a call after cached
    /// tokens scales each token by its own position + 1, as token-by-token decoding does, so draft verification
    /// reproduces decoding exactly. Linear scaling divides every position by the factor.
    public func tables(_ positions: [Int], prefill: Bool) -> (cos: [Float], sin: [Float]) {
        let half = dimensions / 2
        let dynamic = scaling?.type == "dynamic"
        let shared = inverseFrequencies(sequenceLength: (positions.max() ?? 0) + 1)
        var cosT = [Float](repeating: 0, count: positions.count * half)
        var sinT = cosT
        for (t, p) in positions.enumerated() {
            let invFreq = dynamic && !prefill ? inverseFrequencies(sequenceLength: p + 1) : shared
            var pos = Float(p)
            if let s = scaling, s.type == "linear" { pos /= Float(s.factor) }
            for j in 0..<half {
                let angle = pos * invFreq[j]
                cosT[t * half + j] = cosf(angle)
                sinT[t * half + j] = sinf(angle)
            }
        }
        return (cosT, sinT)
    }

    /// Rotate-half RoPE on `dimensions` floats at `x` with one token's tables.
    @inline(__always)
    public func rotate(_ x: UnsafeMutablePointer<Float>, cos cosT: UnsafePointer<Float>, sin sinT: UnsafePointer<Float>) {
        let half = dimensions / 2
        for i in 0..<half {
            let a = x[i], b = x[i + half]
            x[i] = a * cosT[i] - b * sinT[i]
            x[i + half] = b * cosT[i] + a * sinT[i]
        }
    }

    /// Rotates, for every token t, the `dimensions`-wide vectors starting at `offsets(t)` in `x`, with the
    /// tables of `tables` (token t's row t).
    public func apply(_ x: inout [Float], tokens T: Int, cos cosT: [Float], sin sinT: [Float], offsets: (Int) -> [Int]) {
        let half = dimensions / 2
        x.withUnsafeMutableBufferPointer { xp in
            cosT.withUnsafeBufferPointer { cs in
                sinT.withUnsafeBufferPointer { sn in
                    for t in 0..<T {
                        for o in offsets(t) { rotate(xp.baseAddress! + o, cos: cs.baseAddress! + t * half, sin: sn.baseAddress! + t * half) }
                    }
                }
            }
        }
    }
}
