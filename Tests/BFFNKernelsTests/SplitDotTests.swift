import BFFNKernels
import BFFNTestSupport
import Testing

/// `Dot.dot(x, a, na, b, nb)` (a key read as two pieces: MLA's own part and shared rotary part) gives the bits of
/// `Dot.dot` over the concatenation, for second pieces with and without tails.
@Suite("split dot products")
struct SplitDotTests {
    @Test(arguments: [0, 7, 8, 32, 40, 64, 65, 100])
    func twoPiecesEqualTheConcatenation(_ nb: Int) {
        for na in [32, 128] {
            let x = SeededValues.floats(na + nb, seed: UInt32(na * 1000 + nb))
            let a = SeededValues.floats(na, seed: 5), b = SeededValues.floats(nb, seed: 6)
            let whole = a + b
            let expected = x.withUnsafeBufferPointer { xp in whole.withUnsafeBufferPointer { Dot.dot(xp.baseAddress!, $0.baseAddress!, na + nb) } }
            let got = x.withUnsafeBufferPointer { xp in
                a.withUnsafeBufferPointer { ap in
                    (b + [0]).withUnsafeBufferPointer { Dot.dot(xp.baseAddress!, ap.baseAddress!, na, $0.baseAddress!, nb) }
                }
            }
            #expect(got.bitPattern == expected.bitPattern, "na \(na), nb \(nb): \(got) vs \(expected)")
        }
    }
}
