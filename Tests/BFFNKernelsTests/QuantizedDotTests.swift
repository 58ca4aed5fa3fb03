import BFFNKernels
import BFFNTestSupport
import Testing

/// Dot products over quantized rows (q8, q4 of every group size, symmetric and asymmetric) against the same
/// product over the row's decoded float32 values (what the encoder says each code means): the same bits,
/// whether the loader reads a group's scale once per 32 elements or once per 8, and with 8-element tails.
@Suite("quantized dot products")
struct QuantizedDotTests {
    static let types: [StorageType] = [8, 16, 32, 64, 128].flatMap { g in
        [StorageType.q8(group: g), .q4(group: g, asymmetric: true), .q4(group: g, asymmetric: false)]
    } + [.q3k, .q4k, .q5k, .q6k]

    static func values(_ count: Int, seed: UInt32) -> [Float] { SeededValues.floats(count, seed: seed) }

    @Test(arguments: types)
    func quantizedRowsGiveTheBitsOfTheirDecodedValues(_ type: StorageType) {
        // Lengths: whole blocks of 32, a block of 8 after them, and one group per row (group == cols).
        for n in [256, 264, 384, 1032] {
            let group = type.group(cols: n) ?? n
            guard n % group == 0 else { continue }
            let row = Self.values(n, seed: UInt32(n))
            var bytes = [UInt8](repeating: 0, count: type.rowBytes(cols: n))
            var decoded = [Float](repeating: 0, count: n)
            var errors = WeightQuantizer.ErrorSums()
            row.withUnsafeBufferPointer { r in
                bytes.withUnsafeMutableBytes { b in
                    decoded.withUnsafeMutableBufferPointer { d in
                        WeightQuantizer.encode(r.baseAddress!, count: n, as: type, into: b.baseAddress!, decoded: d.baseAddress!, errors: &errors)
                    }
                }
            }
            let x = Self.values(n, seed: 99)
            let (quantized, reference) = x.withUnsafeBufferPointer { xp in
                (bytes.withUnsafeBytes { Dot.dot(xp.baseAddress!, $0.baseAddress!, type, n) },
                 decoded.withUnsafeBytes { Dot.dot(xp.baseAddress!, $0.baseAddress!, .f32, n) })
            }
            #expect(quantized.bitPattern == reference.bitPattern, "\(type), \(n) elements")
        }
    }
}
