import BFFNCore

extension Engine {
    /// cos/sin tables, `ropeDim / 2` per token (`RotaryEmbedding.tables`: dynamic NTK scaling by the call's
    /// length on a prefill, by each token's position + 1 after cached tokens).
    func ropeTables(_ positions: [Int], prefill: Bool) -> (cos: [Float], sin: [Float]) {
        rotary.tables(positions, prefill: prefill)
    }

    /// Rotates, for every token t, the `ropeDim`-wide vectors starting at `offsets(t)` in `x`.
    func applyRope(_ x: inout [Float], _ T: Int, _ cosT: [Float], _ sinT: [Float], offsets: (Int) -> [Int]) {
        rotary.apply(&x, tokens: T, cos: cosT, sin: sinT, offsets: offsets)
    }
}
