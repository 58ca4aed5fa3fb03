/// What one forward call produced.
public struct ForwardOutput: Sendable {
    /// Logits, one row of V floats per token from `firstLogitRow` to the call's last token (all T rows unless
    /// the call asked for `.last`).
    public var logits: [Float]
    /// The token (index within the call) of the first row of `logits`; 0 unless the call asked for `.last`.
    public var firstLogitRow = 0
    /// Per layer, T rows of E router scores (after ReLU and normalisation); empty unless captured.
    public var routerScores: [[Float]]
    /// Per layer, T rows of E router logits before the ReLU (A⁰), experts in source order; empty unless captured.
    public var routerLogits: [[Float]] = []
    /// Per layer, the number of experts computed (the union in sparse mode).
    public var expertsComputed: [Int]
    /// Per layer, the expert-token products computed: the sum over the call's chunks of union size x tokens
    /// (`EngineOptions.expertChunk`); expertsComputed x T when the call is one chunk.
    public var expertTokenProducts: [Int] = []
    /// Per layer, T rows of H floats: the residual stream after the layer; empty unless captured.
    public var hiddenStates: [[Float]] = []
    /// T rows of H floats: every token's hidden state after the final RMSNorm (before the head's division by
    /// H / dim_model_base), the "feature" an EAGLE draft head reads; empty unless `captureFeatures`.
    public var features: [Float] = []
    /// Floats per row of `features` (H; 0 when not captured).
    public var featureWidth = 0
    /// The vocabulary size (row width of `logits`).
    public var vocabSize: Int

    /// The logits of token `t` of the call (`t >= firstLogitRow`).
    public func logits(at t: Int) -> ArraySlice<Float> {
        precondition(t >= firstLogitRow, "token \(t) of this call has no logits (the call asked for the last token's only)")
        let row = t - firstLogitRow
        return logits[(row * vocabSize)..<((row + 1) * vocabSize)]
    }

    /// The argmax of token `t`'s logits (ties go to the lowest index, as torch.argmax).
    public func argmax(at t: Int) -> Int { argmaxIndex(logits(at: t)) }

    /// The feature (final-normed hidden state, H floats) of token `t` of the call; needs `captureFeatures`.
    public func feature(at t: Int) -> ArraySlice<Float> {
        features[(t * featureWidth)..<((t + 1) * featureWidth)]
    }
}

/// The position of a row's largest value from its start (ties go to the lowest position, as torch.argmax).
public func argmaxIndex(_ row: ArraySlice<Float>) -> Int {
    var best = 0
    var bestValue = -Float.infinity
    for (i, v) in row.enumerated() where v > bestValue {
        best = i
        bestValue = v
    }
    return best
}

/// The `count` largest values of a row, as positions from its start (0-based), largest first; equal values
/// keep the lower position first (torch.topk's order on ties in a row of logits). Inlinable, so callers get a
/// version specialised for their collection (unspecialised, a 122 753-logit row costs milliseconds in generic
/// metadata lookups: most of a draft model's time per drafted token).
@inlinable
public func topPositions<C: Collection>(_ values: C, count: Int) -> [Int] where C.Element: Comparable {
    guard count > 0 else { return [] }
    var best: [(position: Int, value: C.Element)] = []
    for (i, v) in values.enumerated() where best.count < count || v > best[best.count - 1].value {
        var j = best.count
        while j > 0 && best[j - 1].value < v { j -= 1 }
        best.insert((i, v), at: j)
        if best.count > count { best.removeLast() }
    }
    return best.map(\.position)
}
