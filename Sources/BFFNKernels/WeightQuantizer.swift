import BFFNCore

/// Encodes float rows into a `WeightType` (the inverse of the loaders), deterministically.
///
/// Float types round to nearest even. q8: scale = max|x| / 127 per group (1 when the group is all zero),
/// q = round(x / scale) clamped to ±127. q4 asymmetric: offset = min, scale = (max − min) / 15,
/// q = round((x − min) / scale) clamped to 0...15; symmetric: scale = max|x| / 7, q = round(x / scale) clamped
/// to −8...7, stored + 8. Rounding is to nearest, ties away from zero.
public enum WeightQuantizer {
    /// The stored bytes of `values` (one row) and the values the kernels will read back.
    public static func encode(_ values: [Float], as type: WeightType) -> (bytes: [UInt8], decoded: [Float]) {
        var out: [UInt8] = []
        var decoded = [Float](repeating: 0, count: values.count)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        switch type {
        case .f32:
            for v in values { put(v.bitPattern) }
            decoded = values
        case .f16:
            for (i, v) in values.enumerated() { let h = Float16(v); put(h.bitPattern); decoded[i] = Float(h) }
        case .bf16:
            for (i, v) in values.enumerated() {
                let b = ScalarConversion.floatToBF16(v)
                put(b)
                decoded[i] = ScalarConversion.bf16ToFloat(b)
            }
        case .q8(let g):
            var scales: [Float] = [], codes = [Int8](repeating: 0, count: values.count)
            var start = 0
            while start < values.count {
                var m: Float = 0
                for i in start..<(start + g) { m = max(m, abs(values[i])) }
                let scale = m > 0 ? m / 127 : 1
                scales.append(scale)
                for i in start..<(start + g) {
                    let q = Int8(max(-127, min(127, (values[i] / scale).rounded())))
                    codes[i] = q
                    decoded[i] = Float(q) * scale          // exactly Q8Loader's formula
                }
                start += g
            }
            for sc in scales { put(sc.bitPattern) }
            codes.withUnsafeBytes { out += $0 }
        case .q4(let g, let asym):
            var scales: [Float] = [], offsets: [Float] = [], codes = [UInt8](repeating: 0, count: values.count)
            var start = 0
            while start < values.count {
                if asym {
                    var lo = values[start], hi = values[start]
                    for i in start..<(start + g) { lo = min(lo, values[i]); hi = max(hi, values[i]) }
                    let scale = hi > lo ? (hi - lo) / 15 : 1
                    scales.append(scale); offsets.append(lo)
                    for i in start..<(start + g) {
                        let q = UInt8(max(0, min(15, ((values[i] - lo) / scale).rounded())))
                        codes[i] = q
                        decoded[i] = lo.addingProduct(Float(q), scale)   // exactly Q4Loader's formula
                    }
                } else {
                    var m: Float = 0
                    for i in start..<(start + g) { m = max(m, abs(values[i])) }
                    let scale = m > 0 ? m / 7 : 1
                    scales.append(scale)
                    for i in start..<(start + g) {
                        let q = UInt8(Int(max(-8, min(7, (values[i] / scale).rounded()))) + 8)
                        codes[i] = q
                        decoded[i] = (Float(q) - 8) * scale
                    }
                }
                start += g
            }
            for sc in scales { put(sc.bitPattern) }
            for o in offsets { put(o.bitPattern) }
            for i in stride(from: 0, to: codes.count, by: 2) { out.append(codes[i] | (codes[i + 1] << 4)) }
        }
        return (out, decoded)
    }
}
