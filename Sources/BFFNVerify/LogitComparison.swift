import BFFNEngine

import BFFNCore

/// Running comparison of model logits against reference logits, position by position (all in float64).
public struct LogitComparison: Sendable {
    /// Positions compared.
    public private(set) var positions = 0
    /// The largest |model - reference| over every logit.
    public private(set) var maxAbsError = 0.0
    /// The largest per-position KL divergence KL(reference || model), in nats.
    public private(set) var maxKLD = 0.0
    /// Model logits that are NaN or infinite.
    public private(set) var nonFinite = 0
    var kldSum = 0.0
    var top1Agreeing = 0
    var top5Sum = 0.0
    var squaredError = 0.0
    var squaredReference = 0.0

    /// An empty comparison.
    public init() {}

    /// Mean KL(reference || model) over positions, in nats.
    public var meanKLD: Double { positions > 0 ? kldSum / Double(positions) : 0 }
    /// Fraction of positions whose argmax (ties to the lowest id) agrees.
    public var top1Agreement: Double { positions > 0 ? Double(top1Agreeing) / Double(positions) : 1 }
    /// Mean fraction of the reference's 5 most likely tokens among the model's 5 most likely.
    public var top5Overlap: Double { positions > 0 ? top5Sum / Double(positions) : 1 }
    /// Logit NMSE in dB, 10·log10(Σ(model - reference)² / Σ reference²); nil when the logits are identical.
    public var nmseDB: Double? { squaredError > 0 && squaredReference > 0 ? 10 * log10(squaredError / squaredReference) : nil }

    /// Adds one position: `reference` and `model` are rows of V logits.
    public mutating func add(reference: ArraySlice<Float>, model: ArraySlice<Float>) {
        precondition(reference.count == model.count && !reference.isEmpty)
        let r = reference.map(Double.init), m = model.map(Double.init)
        let bad = m.filter { !$0.isFinite }.count
        if bad > 0 {
            nonFinite += bad
            maxAbsError = .infinity
            maxKLD = .infinity
            kldSum = .infinity
            positions += 1
            return
        }
        let lr = TransformerMath.logSoftmax(r), lm = TransformerMath.logSoftmax(m)
        var kld = 0.0
        for i in 0..<r.count {
            maxAbsError = max(maxAbsError, abs(m[i] - r[i]))
            squaredError += (m[i] - r[i]) * (m[i] - r[i])
            squaredReference += r[i] * r[i]
            let p = exp(lr[i])
            if p > 0 { kld += p * (lr[i] - lm[i]) }
        }
        kld = max(kld, 0)
        kldSum += kld
        maxKLD = max(maxKLD, kld)
        let topR = topPositions(r, count: 5), topM = topPositions(m, count: 5)
        if topR[0] == topM[0] { top1Agreeing += 1 }
        top5Sum += Double(Set(topR).intersection(topM).count) / Double(topR.count)
        positions += 1
    }

    /// Adds another comparison's positions.
    public mutating func merge(_ o: LogitComparison) {
        positions += o.positions
        nonFinite += o.nonFinite
        maxAbsError = max(maxAbsError, o.maxAbsError)
        maxKLD = max(maxKLD, o.maxKLD)
        kldSum += o.kldSum
        top1Agreeing += o.top1Agreeing
        top5Sum += o.top5Sum
        squaredError += o.squaredError
        squaredReference += o.squaredReference
    }
}
