/// Conversions of single stored elements to Float, for reporting and for tests.
///
/// These are exact widenings (every bf16, f16 and f8 value is representable in Float). Bulk kernels for the
/// engine live elsewhere; these are the reference definitions they are tested against.
public enum ScalarConversion {
    /// A bfloat16 bit pattern widened to Float (exact).
    @inlinable public static func bf16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// A Float rounded to bfloat16 (round to nearest even; NaN stays NaN), as docs/model.md decision 10 says.
    @inlinable public static func floatToBF16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// An IEEE half bit pattern widened to Float (exact).
    @inlinable public static func f16ToFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// An OCP FP8 E4M3 (the "fn" variant: no infinities, S.1111.111 is NaN) byte widened to Float.
    public static func f8e4m3ToFloat(_ byte: UInt8) -> Float {
        let sign: Float = byte & 0x80 != 0 ? -1 : 1
        let exponent = Int((byte >> 3) & 0x0F)
        let mantissa = Float(byte & 0x07)
        if exponent == 0x0F && byte & 0x07 == 0x07 { return .nan }
        if exponent == 0 { return sign * mantissa / 8 * Float(sign: .plus, exponent: -6, significand: 1) }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }

    /// An FP8 E5M2 byte widened to Float (it is the top byte of an IEEE half).
    public static func f8e5m2ToFloat(_ byte: UInt8) -> Float {
        f16ToFloat(UInt16(byte) << 8)
    }

    /// Reads element `index` of a buffer holding `dtype` values and widens it to Double; nil for dtypes with
    /// no single-element meaning here (sub-byte floats, complex, E8M0 scale bytes are widened too).
    public static func element(_ dtype: DType, _ bytes: UnsafeRawBufferPointer, _ index: Int) -> Double? {
        func load<T>(_: T.Type) -> T { bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self) }
        switch dtype {
        case .f64: return load(Double.self)
        case .f32: return Double(load(Float.self))
        case .f16: return Double(f16ToFloat(load(UInt16.self)))
        case .bf16: return Double(bf16ToFloat(load(UInt16.self)))
        case .i64: return Double(load(Int64.self))
        case .u64: return Double(load(UInt64.self))
        case .i32: return Double(load(Int32.self))
        case .u32: return Double(load(UInt32.self))
        case .i16: return Double(load(Int16.self))
        case .u16: return Double(load(UInt16.self))
        case .i8: return Double(load(Int8.self))
        case .u8: return Double(load(UInt8.self))
        case .bool: return load(UInt8.self) != 0 ? 1 : 0
        case .f8e4m3: return Double(f8e4m3ToFloat(load(UInt8.self)))
        case .f8e5m2: return Double(f8e5m2ToFloat(load(UInt8.self)))
        case .f8e8m0:
            let e = load(UInt8.self)
            return e == 0xFF ? .nan : Double(Float(sign: .plus, exponent: Int(e) - 127, significand: 1))
        case .f4, .f6e2m3, .f6e3m2, .c64: return nil
        }
    }
}
