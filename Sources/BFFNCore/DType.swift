/// An element type of a stored tensor, spelled as safetensors spells it (`"BF16"`, `"F32"`, ...).
///
/// The set is the safetensors format's full list, which also covers every storage type `torch.save` writes
/// for model weights. Sub-byte types (F4, F6_*) are only valid when a tensor's total bit count is a whole
/// number of bytes.
public enum DType: String, Sendable, CaseIterable, Hashable, Comparable {
    case bool = "BOOL"
    case f4 = "F4"
    case f6e2m3 = "F6_E2M3"
    case f6e3m2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case f8e8m0 = "F8_E8M0"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// The size of one element in bits.
    public var bitWidth: Int {
        switch self {
        case .f4: return 4
        case .f6e2m3, .f6e3m2: return 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// True for the floating-point types a model's weights can be computed from after widening to Float.
    public var isFloatingPoint: Bool {
        switch self {
        case .f4, .f6e2m3, .f6e3m2, .f8e5m2, .f8e4m3, .f8e8m0, .f16, .bf16, .f32, .f64: return true
        default: return false
        }
    }

    /// The number of bytes `count` elements occupy, or nil when that is not a whole number of bytes or
    /// overflows.
    public func byteCount(elements count: UInt64) -> UInt64? {
        let (bits, overflow) = count.multipliedReportingOverflow(by: UInt64(bitWidth))
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    public static func < (lhs: DType, rhs: DType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Helpers for shapes: element counts with overflow checks.
public enum Shape {
    /// The product of `dims`, or nil on overflow. An empty shape (a scalar) has one element.
    public static func elementCount(_ dims: [Int]) -> UInt64? {
        var total: UInt64 = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, o) = total.multipliedReportingOverflow(by: UInt64(d))
            if o { return nil }
            total = p
        }
        return total
    }

    /// A shape written as `[2, 3]`.
    public static func describe(_ dims: [Int]) -> String {
        "[" + dims.map(String.init).joined(separator: ", ") + "]"
    }
}
