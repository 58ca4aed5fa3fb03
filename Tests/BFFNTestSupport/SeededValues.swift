/// Deterministic test values from one linear congruential generator (x ← 1 664 525·x + 1 013 904 223 mod 2³²):
/// each value is (x >> 8) / 2²⁴ − 0.5, times `scale`, so values lie in [−scale/2, scale/2). The one source of
/// pseudo-random numbers in the tests; the same seed gives the same values on every machine.
public struct SeededValues {
    /// The generator's state.
    public private(set) var state: UInt32

    /// A generator starting from `seed`.
    public init(seed: UInt32) { state = seed }

    /// The next value times `scale`.
    public mutating func next(scale: Float = 1) -> Float {
        state = state &* 1_664_525 &+ 1_013_904_223
        return (Float(state >> 8) / Float(1 << 24) - 0.5) * scale
    }

    /// The first `count` values from `seed`, times `scale`.
    public static func floats(_ count: Int, seed: UInt32, scale: Float = 1) -> [Float] {
        var g = SeededValues(seed: seed)
        return (0..<count).map { _ in g.next(scale: scale) }
    }
}
