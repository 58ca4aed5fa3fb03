import BFFNCore
import BFFNKernels

/// Quantization error of one tensor class: RMSE, max absolute error and SNR in dB over its elements.
public struct ErrorStats: Sendable {
    public var elements: UInt64 = 0
    var signal = 0.0, noise = 0.0
    public var maxAbs: Double = 0
    public var rmse: Double { elements > 0 ? (noise / Double(elements)).squareRoot() : 0 }
    /// 10·log10(signal energy / error energy); nil when the error is exactly zero (lossless).
    public var snrDB: Double? { noise > 0 ? 10 * log10(signal / noise) : nil }

    /// Adds the quantizer's sums for some rows (merged in row order, so the totals do not depend on threads).
    mutating func merge(_ o: WeightQuantizer.ErrorSums) {
        signal += o.signal
        noise += o.noise
        maxAbs = max(maxAbs, Double(o.maxAbs))
        elements += o.elements
    }

    /// `{"rmse", "max_abs", "snr_db", "elements"}` (snr_db null when lossless), as the manifest and every report spell it.
    public var json: JSONValue {
        .object([("rmse", .double(rmse)), ("max_abs", .double(maxAbs)), ("snr_db", snrDB.map { .double($0) } ?? .null),
                 ("elements", .integer(elements))])
    }
}

