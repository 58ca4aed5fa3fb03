import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The super-block formats q3k ... q6k (formats/bfpk.md, "Q3K rows" ... "Q6K rows"): the C encoders against the
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

    /// q6k: the C encoder against `referenceQ6K` (nearest, x², column importance), and the loaders against the q8 row
    /// it is.
    @Test(arguments: lengths)
    func q6kBytesMatchThePlainSwiftTranscription(_ n: Int) {
        for (r, row) in Self.rows(n).enumerated() {
            #expect(WeightQuantizer.encode(row, as: .q6k).bytes == referenceQ6K(row, weights: nil), "row \(r), \(n), nearest")
            #expect(WeightQuantizer.encode(row, as: .q6k, search: .weighted).bytes == referenceQ6K(row, weights: row.map { $0 * $0 }), "row \(r), \(n), x²")
            let importance = SeededValues.floats(n, seed: UInt32(40 + r)).map { abs($0) }
            let (bytes, decoded) = WeightQuantizer.encode(row, as: .q6k, search: .weighted, importance: importance)
            #expect(bytes == referenceQ6K(row, weights: importance) && bytes.count == StorageType.q6k.rowBytes(cols: n), "row \(r), \(n)")
            let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q6k, rows: 1, cols: n).rowValues(0) }
            let asQ8 = q6kAsQ8(bytes, cols: n).withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q8(group: 32), rows: 1, cols: n).rowValues(0) }
            let single = bytes.withUnsafeBytes { b in (0..<n).map { Q6KLoader(cols: n).load1(b.baseAddress!, $0) } }
            #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern) && asQ8.map(\.bitPattern) == decoded.map(\.bitPattern))
            #expect(single.map(\.bitPattern) == decoded.map(\.bitPattern))
        }
    }

    /// q3k: the C encoder against `referenceQ3K` (nearest, x², column importance; rows of 48 and 80 are a multiple of
    /// 16 but not of 32), and the loaders against the q4 symmetric row in groups of 16 it is.
    @Test(arguments: lengths + [48, 80])
    func q3kBytesMatchThePlainSwiftTranscription(_ n: Int) {
        for (r, row) in Self.rows(n).enumerated() {
            #expect(WeightQuantizer.encode(row, as: .q3k).bytes == referenceQ3K(row, weights: nil), "row \(r), \(n), nearest")
            #expect(WeightQuantizer.encode(row, as: .q3k, search: .weighted).bytes == referenceQ3K(row, weights: row.map { $0 * $0 }), "row \(r), \(n), x²")
            let importance = SeededValues.floats(n, seed: UInt32(40 + r)).map { abs($0) }
            let (bytes, decoded) = WeightQuantizer.encode(row, as: .q3k, search: .weighted, importance: importance)
            #expect(bytes == referenceQ3K(row, weights: importance) && bytes.count == StorageType.q3k.rowBytes(cols: n), "row \(r), \(n)")
            let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: .q3k, rows: 1, cols: n).rowValues(0) }
            let asQ4 = q3kAsQ4(bytes, cols: n).withUnsafeBytes {
                WeightMatrix(base: $0.baseAddress!, type: .q4(group: 16, asymmetric: false), rows: 1, cols: n).rowValues(0)
            }
            let single = bytes.withUnsafeBytes { b in (0..<n).map { Q3KLoader(cols: n).load1(b.baseAddress!, $0) } }
            #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern) && asQ4.map(\.bitPattern) == decoded.map(\.bitPattern))
            #expect(single.map(\.bitPattern) == decoded.map(\.bitPattern))
        }
    }

    /// Both q3k grids occur on bell-shaped rows (sums of four uniform values), where a sub-block's largest magnitude
    /// is often alone on its side (the mirrored grid puts a positive one on code 4); a zero code decodes to +0 in either.
    @Test func q3kUsesTheMirrorAndDecodesZeroAsPlusZero() {
        let u = SeededValues.floats(4 * 4096, seed: 78)
        let row: [Float] = (0..<4096).map { i -> Float in u[(4 * i)..<(4 * i + 4)].reduce(0, +) }
        let (bytes, decoded) = WeightQuantizer.encode(row, as: .q3k, search: .weighted)
        let tableAt = 4096 / 256 * 2
        let mirrored = (0..<256).filter { (j: Int) -> Bool in (bytes[tableAt + (6 * j + 5) / 8] >> UInt8((6 * j + 5) % 8)) & 1 == 1 }.count
        #expect(mirrored > 25 && mirrored < 231, "\(mirrored) of 256 sub-blocks mirrored")
        #expect(decoded.contains(0) && decoded.allSatisfy { $0 != 0 || $0.sign == .plus })
        let zeros = WeightQuantizer.encode([Float](repeating: 0, count: 64), as: .q3k, search: .weighted)
        #expect(zeros.decoded.allSatisfy { $0.bitPattern == 0 })
    }

    @Test func sizeGroupRuleAndFallback() throws {
        #expect(StorageType.q4k.rowBytes(cols: 256) == 144 && StorageType.q4k.rowBytes(cols: 4096) * 8 == 4096 * 9 / 2)
        #expect(StorageType.q4k.rowBytes(cols: 320) == 8 + 15 + 160 && StorageType.q4k.rowBytes(cols: 64) == 4 + 3 + 32)
        #expect(try StorageType.q4k.resolved(cols: 320, tensor: "t") == .q4k)
        #expect(throws: BFFNError.self) { try StorageType.q4k.resolved(cols: 48, tensor: "t") }
        #expect(!StorageType.q4k.fits(cols: 40) && StorageType.q4k.group(cols: 256) == 32 && StorageType.q4k.bits == 4)
        #expect(try StorageType(parsing: "Q4K") == .q4k && StorageType.q4k.with(group: 64, symmetric: true) == .q4k)
        // q6k: 202 bytes a super-block (6.3125 bits a weight); rows a multiple of 32; the fallback is q8.
        #expect(StorageType.q6k.rowBytes(cols: 256) == 202 && StorageType.q6k.rowBytes(cols: 4096) * 8 == 4096 * 101 / 16)
        #expect(StorageType.q6k.rowBytes(cols: 320) == 4 + 10 + 160 + 80 && StorageType.q6k.rowBytes(cols: 64) == 2 + 2 + 32 + 16)
        #expect(try StorageType.q6k.resolved(cols: 320, tensor: "t") == .q6k)
        #expect(!StorageType.q6k.fits(cols: 48))
        #expect(StorageType.q6k.group(cols: 256) == 32 && StorageType.q6k.bits == 6)
        #expect(try StorageType(parsing: "Q6K") == .q6k)
        // q3k: 110 bytes a super-block (3.4375 bits a weight); rows a multiple of 16; the fallback is symmetric q4.
        #expect(StorageType.q3k.rowBytes(cols: 256) == 110 && StorageType.q3k.rowBytes(cols: 4096) * 8 == 4096 * 55 / 16)
        #expect(StorageType.q3k.rowBytes(cols: 320) == 4 + 15 + 80 + 40 && StorageType.q3k.rowBytes(cols: 64) == 2 + 3 + 16 + 8)
        #expect(StorageType.q3k.rowBytes(cols: 48) == 2 + 3 + 12 + 6)
        #expect(try StorageType.q3k.resolved(cols: 48, tensor: "t") == .q3k)
        #expect(!StorageType.q3k.fits(cols: 40))
        #expect(throws: BFFNError.self) { try StorageType.q3k.resolved(cols: 40, tensor: "t") }
        #expect(StorageType.q3k.group(cols: 256) == 16 && StorageType.q3k.bits == 3)
        #expect(try StorageType(parsing: "q3K") == .q3k)
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

    /// On Gaussian rows the weighted error falls with the bits: q3k (3.44 bits) above q4k, q6k (6.31) well below q5k
    /// (5.25) and within a few times q8 per row.
    @Test func errorOrderOfTheSuperBlockTypes() {
        let row = SeededValues.floats(4096, seed: 77)
        let squares = row.map { $0 * $0 }
        func error(_ t: StorageType) -> Double { weightedError(row, WeightQuantizer.encode(row, as: t, search: .weighted).decoded, squares) }
        let q3 = error(.q3k), q4 = error(.q4k), q5 = error(.q5k), q6 = error(.q6k), q8 = error(.q8(group: nil))
        #expect(q3 > q4 && q4 > q5 && q5 > 3 * q6 && q6 > q8 && q6 < 30 * q8, "q3k \(q3) q4k \(q4) q5k \(q5) q6k \(q6) q8 \(q8)")
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
