/// How activations meet q8 / q4 and bf16 weights in the matrix products (formats/numerics.md).
public enum ActivationPrecision: String, Sendable, CaseIterable {
    /// Float32 activations times dequantized weights, in `Dot`'s order (the exact path).
    case float
    /// Activations quantized to int8 per block once per call, exact int32 block sums on q8 / q4 weights repacked
    /// into tiles, scaled in float in block order (`IntegerDot`). Other weights use the float path.
    case int8
    /// Activations rounded to bf16 once per call and bf16 products (`BF16Dot`) on bf16 weights repacked into tiles;
    /// other weights use the float path.
    case bf16
}
