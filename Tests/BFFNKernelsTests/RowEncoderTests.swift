import BFFNCore
import BFFNKernels
import BFFNTestSupport
import Testing

/// The documented encoding (WeightQuantizer, formats/bfpk.md), written out element by element in plain Swift as
/// an independent reference for the vectorised C kernel: true divisions, rounding half away from zero.
func referenceEncoding(_ x: [Float], as type: StorageType) -> [UInt8] {
    var out: [UInt8] = []
    func put(_ v: Float) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
    switch type {
    case .f32:
        x.forEach(put)
    case .f16:
        for v in x { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { out += $0 } }
    case .bf16:
        for v in x { withUnsafeBytes(of: ScalarConversion.floatToBF16(v).littleEndian) { out += $0 } }
    case .q8(let rowGroup):
        let g = rowGroup ?? x.count
        var codes: [UInt8] = []
        for start in stride(from: 0, to: x.count, by: g) {
            let m = x[start..<(start + g)].map(abs).max()!
            let scale = m > 0 ? m / 127 : 1
            put(scale)
            for v in x[start..<(start + g)] {
                codes.append(UInt8(bitPattern: Int8(Swift.max(-127, Swift.min(127, (v / scale).rounded(.toNearestOrAwayFromZero))))))
            }
        }
        out += codes
    case .q4(let g, let asymmetric):
        var codes: [UInt8] = [], offsets: [Float] = []
        for start in stride(from: 0, to: x.count, by: g) {
            let group = x[start..<(start + g)]
            if asymmetric {
                let lo = group.min()!, hi = group.max()!
                let scale = hi > lo ? (hi - lo) / 15 : 1
                put(scale)
                offsets.append(lo)
                codes += group.map { UInt8(Swift.max(0, Swift.min(15, (($0 - lo) / scale).rounded(.toNearestOrAwayFromZero)))) }
            } else {
                let m = group.map(abs).max()!
                let scale = m > 0 ? m / 7 : 1
                put(scale)
                codes += group.map { UInt8(Int(Swift.max(-8, Swift.min(7, ($0 / scale).rounded(.toNearestOrAwayFromZero)))) + 8) }
            }
        }
        offsets.forEach(put)
        for i in stride(from: 0, to: codes.count, by: 2) { out.append(codes[i] | codes[i + 1] << 4) }
    case .q4k:
        out = referenceQ4K(x, weights: nil)
    case .q5k:
        out = referenceQ5K(x, weights: nil)
    case .q6k:
        out = referenceQ6K(x, weights: nil)
    case .q3k:
        out = referenceQ3K(x, weights: nil)
    }
    return out
}

/// Rows that exercise the encoder: random values, all-zero and constant groups, and exact rounding ties.
func encoderTestRows(count n: Int) -> [[Float]] {
    var values = SeededValues(seed: 99)
    func next() -> Float { values.next(scale: 4) }
    let random = (0..<n).map { _ in next() }
    let zeros = [Float](repeating: 0, count: n)
    let constant = [Float](repeating: -0.75, count: n)
    // Groups of 8 whose scale is exactly 1 (q8: max |x| 127; asymmetric q4: 0...15; symmetric q4: max |x| 7),
    // filled with exact ties, which round away from zero.
    let q8Ties = (0..<n).map { i -> Float in [127, -127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5][i % 8] }
    let q4Ties = (0..<n).map { i -> Float in [0, 15, 0.5, 1.5, 2.5, 7.5, 14.5, 3.5][i % 8] }
    let symmetricTies = (0..<n).map { i -> Float in [7, -7, 0.5, -0.5, 2.5, -2.5, 6.5, -6.5][i % 8] }
    let mixed = (0..<n).map { i in i % 16 < 8 ? 0 : next() }   // zero groups beside random ones
    return [random, zeros, constant, q8Ties, q4Ties, symmetricTies, mixed]
}

@Suite("row encoder")
struct RowEncoderTests {
    static let types: [StorageType] = [.f32, .f16, .bf16] + [8, 16, 32, 64, 128].flatMap { g in
        [StorageType.q8(group: g), .q4(group: g, asymmetric: true), .q4(group: g, asymmetric: false)]
    } + [.q3k, .q4k, .q5k, .q6k]

    /// Every storage type and group size, on every test row: the kernel's bytes equal the reference's, and the
    /// decoded values are what the loaders read.
    @Test(arguments: types)
    func bytesMatchTheDocumentedFormulas(_ t: StorageType) {
        for row in encoderTestRows(count: 256) + encoderTestRows(count: 264).map({ Array($0.prefix(t.isFloat ? 261 : 256)) }) {
            let (bytes, decoded) = WeightQuantizer.encode(row, as: t)
            #expect(bytes == referenceEncoding(row, as: t), "\(t), \(row.count) values")
            let loaded = bytes.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: t, rows: 1, cols: row.count).rowValues(0) }
            #expect(loaded.map(\.bitPattern) == decoded.map(\.bitPattern))
        }
    }

    /// bf16 and f16 rows are widened inside the kernel: the same bytes as encoding their float32 values.
    @Test(arguments: [StorageType.bf16, .f16])
    func narrowSourcesEncodeLikeTheirWidenedValues(_ source: StorageType) {
        let values = encoderTestRows(count: 128)[0]
        let stored = referenceEncoding(values, as: source)
        let widened = stored.withUnsafeBytes { WeightMatrix(base: $0.baseAddress!, type: source, rows: 1, cols: 128).rowValues(0) }
        for t in [StorageType.q8(group: 32), .q4(group: 32, asymmetric: true), .f16, .bf16, .f32] {
            var direct = [UInt8](repeating: 0, count: t.rowBytes(cols: 128)), errors = WeightQuantizer.ErrorSums()
            stored.withUnsafeBytes { s in
                direct.withUnsafeMutableBytes { WeightQuantizer.encode(s.baseAddress!, storedAs: source, count: 128, as: t, into: $0.baseAddress!, errors: &errors) }
            }
            #expect(direct == WeightQuantizer.encode(widened, as: t).bytes)
            #expect(errors.elements == 128)
        }
    }

    /// The error sums agree with a double-precision computation from the decoded values.
    @Test(arguments: [StorageType.q8(group: 32), .q4(group: 16, asymmetric: true), .bf16])
    func errorSumsAgreeWithDoublePrecision(_ t: StorageType) {
        let row = encoderTestRows(count: 512)[0]
        let (_, decoded) = WeightQuantizer.encode(row, as: t)
        var sums = WeightQuantizer.ErrorSums()
        var out = [UInt8](repeating: 0, count: t.rowBytes(cols: row.count))
        row.withUnsafeBufferPointer { r in out.withUnsafeMutableBytes { WeightQuantizer.encode(r.baseAddress!, count: row.count, as: t, into: $0.baseAddress!, errors: &sums) } }
        let noise = zip(row, decoded).reduce(0.0) { $0 + (Double($1.1) - Double($1.0)) * (Double($1.1) - Double($1.0)) }
        let signal = row.reduce(0.0) { $0 + Double($1) * Double($1) }
        let worst = zip(row, decoded).map { abs(Double($0.1) - Double($0.0)) }.max()!
        #expect(abs(sums.noise - noise) <= 1e-5 * noise)
        #expect(abs(sums.signal - signal) <= 1e-5 * signal)
        #expect(abs(Double(sums.maxAbs) - worst) <= 1e-6 * worst)
        #expect(sums.elements == 512)
    }
}
