import BFFNCore

extension Engine {
    /// cos/sin tables, `half` per token. Dynamic NTK scaling (docs/model.md, decision 11): a call on an empty cache (a
    /// prefill) scales every token by the call's length, as the published code's one-shot forward does; a call
    /// after cached tokens scales each token by its own position + 1, as token-by-token decoding does, so draft
    /// verification reproduces decoding exactly.
    func ropeTables(_ positions: [Int], prefill: Bool) -> (cos: [Float], sin: [Float]) {
        let half = ropeDim / 2
        func inverseFrequencies(sequenceLength seq: Int) -> [Float] {
            var theta = ropeTheta
            if let s = ropeScaling, s.type == "dynamic", seq > maxPositions {
                let f = Double(s.factor)
                theta = Float(Double(ropeTheta) * pow((f * Double(seq) / Double(maxPositions)) - (f - 1), Double(ropeDim) / Double(ropeDim - 2)))
            }
            return (0..<half).map { 1 / powf(theta, Float(2 * $0) / Float(ropeDim)) }
        }
        let dynamic = ropeScaling?.type == "dynamic"
        let shared = inverseFrequencies(sequenceLength: (positions.max() ?? 0) + 1)
        var cosT = [Float](repeating: 0, count: positions.count * half)
        var sinT = cosT
        for (t, p) in positions.enumerated() {
            let invFreq = dynamic && !prefill ? inverseFrequencies(sequenceLength: p + 1) : shared
            var pos = Float(p)
            if let s = ropeScaling, s.type == "linear" { pos /= Float(s.factor) }
            for j in 0..<half {
                let angle = pos * invFreq[j]
                cosT[t * half + j] = cosf(angle)
                sinT[t * half + j] = sinf(angle)
            }
        }
        return (cosT, sinT)
    }

    /// Rotate-half RoPE on `dim` floats at `x`.
    @inline(__always)
    func rope(_ x: UnsafeMutablePointer<Float>, _ cosT: UnsafePointer<Float>, _ sinT: UnsafePointer<Float>) {
        let half = ropeDim / 2
        for i in 0..<half {
            let a = x[i], b = x[i + half]
            x[i] = a * cosT[i] - b * sinT[i]
            x[i + half] = b * cosT[i] + a * sinT[i]
        }
    }

    /// Rotates, for every token t, the `ropeDim`-wide vectors starting at `offsets(t)` in `x`.
    func applyRope(_ x: inout [Float], _ T: Int, _ cosT: [Float], _ sinT: [Float], offsets: (Int) -> [Int]) {
        let half = ropeDim / 2
        x.withUnsafeMutableBufferPointer { xp in
            cosT.withUnsafeBufferPointer { cs in
                sinT.withUnsafeBufferPointer { sn in
                    for t in 0..<T {
                        for o in offsets(t) { rope(xp.baseAddress! + o, cs.baseAddress! + t * half, sn.baseAddress! + t * half) }
                    }
                }
            }
        }
    }
}
