/// How activations meet q8 / q4 and bf16 weights in the matrix products (formats/numerics.md).
public enum ActivationPrecision: String, Sendable, CaseIterable {
    /// The fastest exact path this CPU has for each weight type (`effective(for:)`): int8 on q8 / q4 rows; bf16 on
    /// bf16 rows where `BF16Dot` has a vector path (the AVX512_BF16 instruction, or NEON on AArch64), else float
    /// (never the slow portable bf16 emulation); float on f32 / f16 rows.
    case auto
    /// Float32 activations times dequantized weights, in `Dot`'s order (the exact path).
    case float
    /// Activations quantized to int8 per block once per call, exact int32 block sums on q8 / q4 weights repacked
    /// into tiles, scaled in float in block order (`IntegerDot`). Other weights use the float path.
    case int8
    /// Activations rounded to bf16 once per call and bf16 products (`BF16Dot`) on bf16 weights repacked into tiles;
    /// other weights use the float path. Chosen explicitly it runs even where only the portable emulation exists
    /// (bit-compatibility checks).
    case bf16

    /// The precision the products with rows of `type` take: `.auto` as its case says, the others themselves
    /// (each of which reads only its own weight types from tiles: `WeightTiles.applies`).
    public func effective(for type: StorageType) -> ActivationPrecision {
        guard self == .auto else { return self }
        if IntegerDot.applies(to: type) { return .int8 }
        if type == .bf16 && BF16Dot.instructionSet != "emulated" { return .bf16 }
        return .float
    }

    /// What runs for weights of `types` (those the model multiplies by), for reports: "int8, integer products
    /// (INSTRUCTION SET)", "bf16, bf16 products (INSTRUCTION SET)", both joined by " + ", or "float32"; with
    /// "float32 (no q8/q4 weights)" or "float32 (no bf16 weights)" where an explicit int8 or bf16 finds none, and
    /// `auto -> ` before what `auto` chose.
    public func label<S: Sequence>(for types: S) -> String where S.Element == StorageType {
        var paths: [ActivationPrecision] = []
        for t in types {
            let p = effective(for: t)
            if WeightTiles.applies(p, to: t) && !paths.contains(p) { paths.append(p) }
        }
        paths.sort { $0 == .int8 && $1 == .bf16 }
        func name(_ p: ActivationPrecision) -> String {
            p == .int8 ? "int8, integer products (\(IntegerDot.instructionSet))" : "bf16, bf16 products (\(BF16Dot.instructionSet))"
        }
        switch self {
        case .auto: return "auto -> " + (paths.isEmpty ? "float32" : paths.map(name).joined(separator: " + "))
        case .float: return "float32"
        case .int8: return paths.isEmpty ? "float32 (no q8/q4 weights)" : name(.int8)
        case .bf16: return paths.isEmpty ? "float32 (no bf16 weights)" : name(.bf16)
        }
    }
}
