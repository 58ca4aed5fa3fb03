import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The super-block formats q4k and q5k (formats/bfpk.md, "Q4K rows", "Q5K rows"): the C encoders against the
/// plain-Swift transcriptions with and without the weighted search, rows with a shorter last super-block, sizes, the
/// group rule, and that the loaders read what the encoder says it wrote (and what the q4 / q8 row it equals reads).
@Suite("super-block rows")
struct Q4KTests {
    /// Row lengths: whole super-blocks, a shorter last one (320 = 256 + 64; 544: an odd sub-block count), one short.
    static let lengths = [256, 320, 544, 64, 32]

    static func rows(_ n: Int) -> [[Float]] {
        let base = encoderTestRows(count: n)
        // Sub-blocks entirely positive (the offset clamped to 0), one huge sub-block beside tiny ones.
        let positive = SeededValues.floats(n, seed: 5).map { abs($0) + 0.25 }
        let mixedScales = SeededValues.floats(n, seed: 6).enumerated().map { $0.offset < 32 ? $0.element * 1e3 : $0.element * 1e-3 }
        return base + [positive, mixedScales]
    }

    @Test(arguments: lengths)
    func weightedBytesMatchThePlainSwiftTranscription(_ n: Int) {
        for (r, row) in Self.rows(n).enumerated() {
            let squares = row.map { $0 * $0 }
            #expect(WeightQuantizer.encode(row, as: .q4k, search: .weighted).bytes == referenceQ4K(row, weights: squares), "row \(r), \(n)")
            let importance = SeededValues.floats(n, seed: UInt32(40 + r)).map { abs($0) }
            let (bytes, decoded) = WeightQuantizer.encode(row, as: .q4k, search: .weighted, importance: importance)
            #expect(bytes == referenceQ4K(row, weights: importance), "row \(r), \(n), columns")
            #expect(bytes.count == StorageType.q4k.rowBytes(cols: n))
            let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q4k, rows: 1, cols: n).rowValues(0) }
            #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern))
            // The loaders read a q4k row as the q4 asymmetric row in groups of 32 it is defined to be.
            let q4 = q4kAsQ4(bytes, cols: n)
            let asQ4 = q4.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q4(group: 32, asymmetric: true), rows: 1, cols: n).rowValues(0) }
            #expect(asQ4.map(\.bitPattern) == decoded.map(\.bitPattern))
        }
    }

    /// q5k: the C encoder against `referenceQ5K`, with and without the search, and the loaders against the q8 row it is.
    @Test(arguments: lengths)
    func q5kBytesMatchThePlainSwiftTranscription(_ n: Int) {
        for (r, row) in Self.rows(n).enumerated() {
            #expect(WeightQuantizer.encode(row, as: .q5k).bytes == referenceQ5K(row, weights: nil), "row \(r), \(n), nearest")
            let importance = SeededValues.floats(n, seed: UInt32(40 + r)).map { abs($0) }
            let (bytes, decoded) = WeightQuantizer.encode(row, as: .q5k, search: .weighted, importance: importance)
            #expect(bytes == referenceQ5K(row, weights: importance) && bytes.count == StorageType.q5k.rowBytes(cols: n), "row \(r), \(n)")
            let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q5k, rows: 1, cols: n).rowValues(0) }
            let asQ8 = q5kAsQ8(bytes, cols: n).withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q8(group: 32), rows: 1, cols: n).rowValues(0) }
            #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern) && asQ8.map(\.bitPattern) == decoded.map(\.bitPattern))
        }
        #expect(StorageType.q5k.rowBytes(cols: 256) * 8 == 256 * 21 / 4)   // 5.25 bits a weight
    }

    @Test func sizeGroupRuleAndFallback() throws {
        #expect(StorageType.q4k.rowBytes(cols: 256) == 144 && StorageType.q4k.rowBytes(cols: 4096) * 8 == 4096 * 9 / 2)
        #expect(StorageType.q4k.rowBytes(cols: 320) == 8 + 15 + 160 && StorageType.q4k.rowBytes(cols: 64) == 4 + 3 + 32)
        #expect(try StorageType.q4k.resolved(cols: 320, tensor: "t") == .q4k)
        #expect(throws: BFFNError.self) { try StorageType.q4k.resolved(cols: 48, tensor: "t") }
        #expect(!StorageType.q4k.fits(cols: 40) && StorageType.q4k.group(cols: 256) == 32 && StorageType.q4k.bits == 4)
        #expect(try StorageType(parsing: "Q4K") == .q4k && StorageType.q4k.with(group: 64, symmetric: true) == .q4k)
    }

    /// The same inputs give the same bytes; an f16 source gives the bytes of its widened values.
    @Test func deterministicAndSourceIndependent() {
        let row = Self.rows(320)[0].map { Float(Float16($0)) }
        let first = WeightQuantizer.encode(row, as: .q4k, search: .weighted).bytes
        #expect(first == WeightQuantizer.encode(row, as: .q4k, search: .weighted).bytes)
        let halves = row.flatMap { v in withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { Array($0) } }
        var direct = [UInt8](repeating: 0, count: first.count), errors = WeightQuantizer.ErrorSums()
        halves.withUnsafeBytes { h in
            direct.withUnsafeMutableBytes {
                WeightQuantizer.encode(h.baseAddress!, storedAs: .f16, count: 320, as: .q4k, search: .weighted, into: $0.baseAddress!, errors: &errors)
            }
        }
        #expect(direct == first && errors.elements == 320)
    }

    /// On Gaussian rows q4k with the search is within a fifth of q4/g32's weighted error at three quarters of the bytes.
    @Test func errorComparableToQ4() {
        let row = SeededValues.floats(4096, seed: 77)
        let squares = row.map { $0 * $0 }
        func error(_ t: StorageType) -> Double { weightedError(row, WeightQuantizer.encode(row, as: t, search: .weighted).decoded, squares) }
        let k = error(.q4k), q4 = error(.q4(group: 32, asymmetric: true))
        #expect(k < 1.2 * q4, "q4k \(k) vs q4 \(q4)")
    }
}
