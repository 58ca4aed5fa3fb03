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
                let bits = v.bitPattern
                let b: UInt16 = v.isNaN ? UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040)
                    : UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
                put(b)
                decoded[i] = Float(bitPattern: UInt32(b) << 16)
            }
        case .q8(let g):
            var scales: [Float] = [], codes: [Int8] = []
            for start in stride(from: 0, to: values.count, by: g) {
                let group = values[start..<(start + g)]
                let m = group.map { abs($0) }.max() ?? 0
                let scale = m > 0 ? m / 127 : 1
                scales.append(scale)
                for v in group { codes.append(Int8(max(-127, min(127, (v / scale).rounded())))) }
            }
            for s in scales { put(s.bitPattern) }
            for c in codes { out.append(UInt8(bitPattern: c)) }
        case .q4(let g, let asym):
            var scales: [Float] = [], offsets: [Float] = [], codes: [UInt8] = []
            for start in stride(from: 0, to: values.count, by: g) {
                let group = values[start..<(start + g)]
                if asym {
                    let lo = group.min() ?? 0, hi = group.max() ?? 0
                    let scale = hi > lo ? (hi - lo) / 15 : 1
                    scales.append(scale); offsets.append(lo)
                    for v in group { codes.append(UInt8(max(0, min(15, ((v - lo) / scale).rounded())))) }
                } else {
                    let m = group.map { abs($0) }.max() ?? 0
                    let scale = m > 0 ? m / 7 : 1
                    scales.append(scale)
                    for v in group { codes.append(UInt8(Int(max(-8, min(7, (v / scale).rounded()))) + 8)) }
                }
            }
            for s in scales { put(s.bitPattern) }
            for o in offsets { put(o.bitPattern) }
            for i in stride(from: 0, to: codes.count, by: 2) { out.append(codes[i] | (codes[i + 1] << 4)) }
        }
        if !type.isFloat {
            // Read back exactly as the kernels do.
            let loader: any WeightLoader
            switch type {
            case .q8(let g): loader = Q8Loader(group: g, cols: values.count)
            case .q4(let g, let a): loader = Q4Loader(group: g, cols: values.count, asymmetric: a)
            default: loader = F32Loader()
            }
            out.withUnsafeBytes { b in for i in 0..<values.count { decoded[i] = loader.load1(b.baseAddress!, i) } }
        }
        return (out, decoded)
    }
}
