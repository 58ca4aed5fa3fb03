import BFFNCore
import CBlockFFNQuantize

/// Encodes float rows into a `StorageType` (the inverse of the loaders), deterministically, with the error made.
///
/// Float types round to nearest even. q8: scale = max|x| / 127 per group (1 when the group is all zero),
/// q = round(x / scale) clamped to ±127. q4 asymmetric: offset = min, scale = (max − min) / 15,
/// q = round((x − min) / scale) clamped to 0...15; symmetric: scale = max|x| / 7, q = round(x / scale) clamped
/// to −8...7, stored + 8. Rounding is to nearest, ties away from zero; divisions are true float divisions. The
/// work is done by a C kernel (`bffn_encode_row`) whose bytes do not depend on the instruction set.
///
/// With `ScaleSearch.weighted` each q8/q4 group's scale (and q4 offset) is instead the one that minimises the
/// importance-weighted squared error Σ wᵢ(xᵢ − decodedᵢ)² among round to nearest's and a small fixed set of
/// candidates (formats/bfpk.md, "Choosing scales"); the codes are still round to nearest on the chosen grid and the
/// row layout is unchanged, so every kernel reads such rows as before.
public enum WeightQuantizer {
    /// How each q8/q4 group's scale (and offset) is chosen (float types ignore it).
    public enum ScaleSearch: String, Sendable, Equatable, CaseIterable {
        /// From the group's extremes (max|x| / 127, max|x| / 7, (max − min) / 15 and min).
        case nearest
        /// The importance-weighted search: weights from the given per-column importance, else xᵢ².
        case weighted
    }

    /// Error sums over encoded values: Σx², Σ(stored − x)², max |stored − x| and the count. The sums are
    /// accumulated in float per group (per 64 values for casts) and in double across groups, in a fixed order.
    public struct ErrorSums: Sendable, Equatable {
        /// Σx² over the original values.
        public var signal = 0.0
        /// Σ(stored − x)², the squared error.
        public var noise = 0.0
        /// The largest |stored − x|.
        public var maxAbs: Float = 0
        /// Values encoded.
        public var elements: UInt64 = 0
        public init() {}

        /// Adds another set of sums (callers merge in row order, so totals do not depend on threads).
        public mutating func merge(_ other: ErrorSums) {
            signal += other.signal
            noise += other.noise
            maxAbs = max(maxAbs, other.maxAbs)
            elements += other.elements
        }
    }

    /// Encodes `count` float32 values at `values` as `type` into `destination`, which must hold
    /// `type.rowBytes(cols: count)` bytes; writes the values the kernels will read back to `decoded` when given.
    /// Preconditions: for q8/q4 the group is a multiple of 8 that divides `count` (`PackLayout` checks this
    /// before any encoding and reports the tensor).
    public static func encode(_ values: UnsafePointer<Float>, count: Int, as type: StorageType,
                              into destination: UnsafeMutableRawPointer, decoded: UnsafeMutablePointer<Float>? = nil,
                              errors: inout ErrorSums) {
        encode(UnsafeRawPointer(values), storedAs: .f32, count: count, as: type, into: destination, decoded: decoded, errors: &errors)
    }

    /// Encodes `count` values stored at `values` as `source` (f32, f16 or bf16; widened exactly inside the
    /// kernel, so a row is read once) as `type` into `destination` (`type.rowBytes(cols: count)` bytes).
    /// Preconditions: `source` is a float type; for q8/q4 the group is a multiple of 8 that divides `count`.
    /// With `search` `.weighted`, `importance` (nil: xᵢ²) holds `count` non-negative weights, one per element.
    public static func encode(_ values: UnsafeRawPointer, storedAs source: StorageType, count: Int, as type: StorageType,
                              search: ScaleSearch = .nearest, importance: UnsafePointer<Float>? = nil,
                              into destination: UnsafeMutableRawPointer, decoded: UnsafeMutablePointer<Float>? = nil,
                              errors: inout ErrorSums) {
        var sums = bffn_error_sums(signal: 0, noise: 0, max_abs: 0)
        let out = destination.assumingMemoryBound(to: UInt8.self)
        let sourceCode: Int32
        switch source {
        case .f32: sourceCode = Int32(BFFN_SOURCE_F32)
        case .f16: sourceCode = Int32(BFFN_SOURCE_F16)
        case .bf16: sourceCode = Int32(BFFN_SOURCE_BF16)
        default: preconditionFailure("quantized sources are dequantized to float32 first")
        }
        let searchCode = search == .nearest ? Int32(BFFN_SEARCH_NONE) : importance == nil ? Int32(BFFN_SEARCH_SQUARES) : Int32(BFFN_SEARCH_COLUMNS)
        func run(_ code: Int32, _ group: Int, _ asymmetric: Bool) -> Int32 {
            bffn_encode_row_weighted(values, sourceCode, count, code, group, asymmetric ? 1 : 0, searchCode, importance, out, decoded, &sums)
        }
        let status: Int32
        switch type {
        case .f32: status = run(Int32(BFFN_ENCODE_F32), 0, false)
        case .f16: status = run(Int32(BFFN_ENCODE_F16), 0, false)
        case .bf16: status = run(Int32(BFFN_ENCODE_BF16), 0, false)
        case .q8(let g): status = run(Int32(BFFN_ENCODE_Q8), g ?? count, false)
        case .q4(let g, let a): status = run(Int32(BFFN_ENCODE_Q4), g, a)
        case .q4k: status = run(Int32(BFFN_ENCODE_Q4K), 32, true)
        case .q5k: status = run(Int32(BFFN_ENCODE_Q5K), 32, false)
        case .q6k: status = run(Int32(BFFN_ENCODE_Q6K), 32, false)
        case .q3k: status = run(Int32(BFFN_ENCODE_Q3K), 16, false)
        }
        precondition(status == 0, "group of \(type) does not divide a row of \(count)")
        errors.merge(ErrorSums(signal: sums.signal, noise: sums.noise, maxAbs: sums.max_abs, elements: UInt64(count)))
    }

    /// The stored bytes of `values` (one row) and the values the kernels will read back; `importance` (one weight
    /// per value) is used with `search` `.weighted`.
    public static func encode(_ values: [Float], as type: StorageType, search: ScaleSearch = .nearest,
                              importance: [Float]? = nil) -> (bytes: [UInt8], decoded: [Float]) {
        precondition(importance.map { $0.count == values.count } ?? true, "one importance weight per value")
        var bytes = [UInt8](repeating: 0, count: type.rowBytes(cols: values.count))
        var decoded = [Float](repeating: 0, count: values.count)
        var errors = ErrorSums()
        values.withUnsafeBufferPointer { v in
            bytes.withUnsafeMutableBytes { b in
                decoded.withUnsafeMutableBufferPointer { d in
                    func run(_ w: UnsafePointer<Float>?) {
                        encode(UnsafeRawPointer(v.baseAddress!), storedAs: .f32, count: values.count, as: type, search: search, importance: w,
                               into: b.baseAddress!, decoded: d.baseAddress, errors: &errors)
                    }
                    if let importance { importance.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
                }
            }
        }
        return (bytes, decoded)
    }
}

extension WeightQuantizer.ErrorSums {
    init(signal: Double, noise: Double, maxAbs: Float, elements: UInt64) {
        self.signal = signal
        self.noise = noise
        self.maxAbs = maxAbs
        self.elements = elements
    }
}
