import BFFNEngine
import BFFNKernels
import BFFNModel

/// How a model relates to its reference, which sets the pass thresholds.
public enum QuantizationClass: String, Sendable {
    /// Both are models with the same storage type for every weight (a lossless pack of its source): logits must
    /// be bit-identical.
    case exact
    /// The reference is a file of float32 logits from the published code; the model stores floats.
    case reference
    /// The model stores floats of another width than the reference (for example bf16 from f32).
    case cast
    /// Some of the model's weights are 8-bit (or 6-bit: q6k) quantized (and none 5-bit or fewer).
    case q8
    /// Some of the model's weights are 5-bit or fewer quantized (q3k, q4, q4k, q5k).
    case q4

    /// Classifies `model` against a reference model, or against a reference file when `reference` is nil.
    public static func of(_ model: ModelWeights, reference: ModelWeights?) -> QuantizationClass {
        let types = storageTypes(model)
        let fewestBits = types.map(\.bits).min() ?? 32
        if fewestBits <= 5 { return .q4 }
        if fewestBits <= 8 { return .q8 }
        guard let reference else { return .reference }
        return types == storageTypes(reference) ? .exact : .cast
    }

    /// The storage type of every weight matrix, in a fixed order.
    static func storageTypes(_ w: ModelWeights) -> [StorageType] {
        w.allMatrices.map(\.matrix.type)
    }
}

/// When `bffn verify` passes.
public struct VerificationThresholds: Sendable, Equatable {
    /// The largest mean KL divergence (reference to model, nats per position) allowed.
    public var maxMeanKLD: Double
    /// The smallest fraction of positions whose top-1 token agrees.
    public var minTop1: Double
    /// Logits must be bit-identical.
    public var identicalLogits: Bool
    /// Every greedy continuation must match the reference's.
    public var requireGreedyMatch: Bool
    /// A layer's hidden state "diverges" when its relative RMS error to the reference exceeds this.
    public var hiddenTolerance: Double

    /// The documented defaults (README, "Verifying a model"). For orientation: llama.cpp reports a mean KLD of
    /// about 0.0014 and 97.7 % top-1 for Q8_0 and about 0.03 and 92 % for Q4_K_M on an 8B model.
    public static func defaults(for c: QuantizationClass) -> VerificationThresholds {
        switch c {
        case .exact: return VerificationThresholds(maxMeanKLD: 0, minTop1: 1, identicalLogits: true, requireGreedyMatch: true, hiddenTolerance: 0)
        case .reference: return VerificationThresholds(maxMeanKLD: 1e-4, minTop1: 0.99, identicalLogits: false, requireGreedyMatch: true, hiddenTolerance: 1e-3)
        case .cast: return VerificationThresholds(maxMeanKLD: 2e-3, minTop1: 0.97, identicalLogits: false, requireGreedyMatch: false, hiddenTolerance: 2e-2)
        case .q8: return VerificationThresholds(maxMeanKLD: 5e-3, minTop1: 0.95, identicalLogits: false, requireGreedyMatch: false, hiddenTolerance: 5e-2)
        case .q4: return VerificationThresholds(maxMeanKLD: 5e-2, minTop1: 0.80, identicalLogits: false, requireGreedyMatch: false, hiddenTolerance: 0.35)
        }
    }
}
