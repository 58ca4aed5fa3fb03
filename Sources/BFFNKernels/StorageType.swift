import BFFNCore

/// How a weight matrix is stored: the one type for a storage scheme everywhere in bffn (the kernels' loaders,
/// the converter's `--quant` and per-class overrides, the pack manifest, device profiles and verification
/// thresholds).
///
/// Quantized rows (`q8`, `q4`) are self-contained: per row, the float32 scales of its groups (then, for
/// asymmetric q4, the float32 offsets), then the codes (q8: one signed byte per element; q4: two elements per
/// byte, the even element in the low nibble). The dequantized value is Float(q)·scale for q8 and symmetric q4
/// (q − 8 for the stored nibble) and fma(Float(q), scale, offset) for asymmetric q4, computed the same way by
/// every kernel. A group is a multiple of 8 elements that divides the row (`resolved(cols:tensor:)` checks it
/// once, before anything is written).
///
/// Spelling (`description`, `init(parsing:)`, case-insensitive): `f32`, `f16`, `bf16`, `q8` (= `q8/row`),
/// `q8/gN`, `q4` (= `q4/g32/asym`), `q4/gN` (asymmetric), `q4/gN/asym`, `q4/gN/sym`, `q3k`, `q4k`, `q5k`, `q6k`. The
/// manifest spells the kind `F32` … `Q4` with `group` and `asymmetric` fields beside it, and `Q3K` … `Q6K` alone
/// (formats/bfpk.md).
///
/// `q4k` rows (about 4.5 bits a weight) are cut into super-blocks of 256 elements (the last one shorter when the
/// row is not a multiple of 256), each with a float16 scale d and min dmin, and sub-blocks of 32 with 6-bit scale
/// sc and min m: value = fma(q, d·sc, 0 − dmin·m), which every kernel computes as q4 asymmetric in groups of 32
/// with that scale and offset (both exact in float32). Rows must be a multiple of 32 elements. `q5k` (5.25 bits a
/// weight): a float16 d per super-block, 6-bit sc per sub-block, codes 0 ... 31: value = (q − 16)·(d·sc), computed
/// as q8 in groups of 32. `q6k` (6.3125 bits a weight): the same with 8-bit sc and codes 0 ... 63: value =
/// (q − 32)·(d·sc), computed as q8 in groups of 32. `q3k` (3.4375 bits a weight): sub-blocks of 16 (rows a multiple
/// of 16), a float16 d per super-block, a 5-bit sc and a mirror bit per sub-block, codes 0 ... 7: value = c·(d·sc)
/// with c = q − 4, or 4 − q when mirrored, computed as symmetric q4 in groups of 16 with nibble c + 8.
public enum StorageType: Hashable, Sendable, CustomStringConvertible {
    case f32, f16, bf16
    /// int8 codes, symmetric, one float32 scale per `group` elements; nil: one scale per row (a scheme not yet
    /// applied to a row width; `resolved(cols:tensor:)` gives the row width as the group).
    case q8(group: Int?)
    /// int4 codes in groups of `group` elements, with scale and offset (`asymmetric`) or scale only.
    case q4(group: Int, asymmetric: Bool)
    /// int4 codes in super-blocks of 256 with 6-bit sub-block scales and mins (formats/bfpk.md, "Q4K rows").
    case q4k
    /// int5 codes, symmetric, in super-blocks of 256 with 6-bit sub-block scales (formats/bfpk.md, "Q5K rows").
    case q5k
    /// int6 codes, symmetric, in super-blocks of 256 with 8-bit sub-block scales (formats/bfpk.md, "Q6K rows").
    case q6k
    /// int3 codes in super-blocks of 256 with 5-bit scales and a mirror bit per sub-block of 16 (formats/bfpk.md,
    /// "Q3K rows").
    case q3k

    /// The q4 group when a spelling names none.
    public static let defaultQ4Group = 32

    // MARK: Group rule

    /// The one rule for a group size, whoever names it (`q4/gN` spellings, the converter's `--group-size`, the
    /// manifest's `group` field): a multiple of 8 elements (the kernels load codes eight at a time) from 8 to
    /// 1048576. Whether it divides a given row is `resolved(cols:tensor:)`'s check.
    public static func isSupportedGroup(_ group: Int) -> Bool { group >= 8 && group % 8 == 0 && group <= 1 << 20 }

    /// The group rule in words, for messages: "a multiple of 8 from 8 to 1048576".
    public static let groupRule = "a multiple of 8 from 8 to 1048576"

    // MARK: Sizes

    /// Bytes per element of the float types (quantized types: 1; use `rowBytes(cols:)`).
    @inlinable public var size: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8, .q4, .q4k, .q5k, .q6k, .q3k: return 1
        }
    }

    /// True for f32, f16, bf16.
    @inlinable public var isFloat: Bool {
        switch self {
        case .f32, .f16, .bf16: return true
        case .q8, .q4, .q4k, .q5k, .q6k, .q3k: return false
        }
    }

    /// Bytes one row of `cols` elements takes.
    @inlinable public func rowBytes(cols: Int) -> Int {
        switch self {
        case .f32, .f16, .bf16: return cols * size
        case .q8(let g): return cols / (g ?? cols) * 4 + cols
        case .q4(let g, let asym): return cols / g * 4 * (asym ? 2 : 1) + cols / 2
        case .q4k: return (cols + 255) / 256 * 4 + (3 * (cols / 32) + 1) / 2 + cols / 2
        case .q5k: return (cols + 255) / 256 * 2 + (6 * (cols / 32) + 7) / 8 + cols / 2 + cols / 8
        case .q6k: return (cols + 255) / 256 * 2 + cols / 32 + cols / 2 + cols / 4
        case .q3k: return (cols + 255) / 256 * 2 + (6 * (cols / 16) + 7) / 8 + cols / 4 + cols / 8
        }
    }

    /// The group of a quantized type (a per-row q8 scale: `cols`); nil for float types.
    @inlinable public func group(cols: Int) -> Int? {
        switch self {
        case .f32, .f16, .bf16: return nil
        case .q8(let g): return g ?? cols
        case .q4(let g, _): return g
        case .q4k, .q5k, .q6k: return 32
        case .q3k: return 16
        }
    }

    // MARK: Loaders

    /// Calls `body` with the loader for this storage type and rows of `cols` elements: the one place a storage
    /// type becomes a loader. Inlinable, so each caller's body is specialised per loader (no type switch in the
    /// inner loops).
    @inlinable @inline(__always)
    public func withLoader<Body: WeightLoaderBody>(cols: Int, _ body: Body) -> Body.Result {
        switch self {
        case .f32: return body(F32Loader())
        case .f16: return body(F16Loader())
        case .bf16: return body(BF16Loader())
        case .q8(let g): return body(Q8Loader(group: g ?? cols, cols: cols))
        case .q4(let g, let a): return body(Q4Loader(group: g, cols: cols, asymmetric: a))
        case .q4k: return body(Q4KLoader(cols: cols))
        case .q5k: return body(Q5KLoader(cols: cols))
        case .q6k: return body(Q6KLoader(cols: cols))
        case .q3k: return body(Q3KLoader(cols: cols))
        }
    }

    // MARK: Group rules

    /// This type for a tensor whose rows have `cols` elements: a per-row q8 scale becomes a group of `cols`.
    /// - Throws: `.unsupported` naming `tensor` when the group is not a positive multiple of 8 or does not
    ///   divide the row (never a silent fallback).
    public func resolved(cols: Int, tensor: String) throws -> StorageType {
        switch self {
        case .f32, .f16, .bf16: return self
        case .q8(let g):
            let group = g ?? cols
            guard Self.isSupportedGroup(group), cols % group == 0 else {
                throw BFFNError(.unsupported, "q8 groups of \(group) do not divide rows of \(cols) elements (groups must be multiples of 8)", field: tensor)
            }
            return .q8(group: group)
        case .q4(let g, let a):
            guard Self.isSupportedGroup(g), cols % g == 0 else {
                throw BFFNError(.unsupported, "q4 groups of \(g) do not divide rows of \(cols) elements (groups must be multiples of 8)", field: tensor)
            }
            return .q4(group: g, asymmetric: a)
        case .q4k, .q5k, .q6k, .q3k:
            let multiple = self == .q3k ? 16 : 32
            guard cols > 0, cols % multiple == 0 else {
                throw BFFNError(.unsupported, "\(self) needs rows that are a multiple of \(multiple) elements, not \(cols)", field: tensor)
            }
            return self
        }
    }

    /// True when rows of `cols` elements can be stored as this type (float types: always).
    public func fits(cols: Int) -> Bool { (try? resolved(cols: cols, tensor: "")) != nil }

    // MARK: Spelling

    /// The scheme's spelling: `bf16`, `q8/row`, `q8/g32`, `q4/g32/asym`, `q4/g64/sym`.
    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .q8(let g): return g.map { "q8/g\($0)" } ?? "q8/row"
        case .q4(let g, let a): return "q4/g\(g)/\(a ? "asym" : "sym")"
        case .q4k: return "q4k"
        case .q5k: return "q5k"
        case .q6k: return "q6k"
        case .q3k: return "q3k"
        }
    }

    /// Parses a spelling (see the type's description), ignoring case.
    /// - Throws: `.usage` naming the spelling and the accepted forms, or the group rule (`isSupportedGroup`)
    ///   for a group N outside it.
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func fail() -> BFFNError {
            BFFNError(.usage, "unknown storage '\(text)'; use f32, f16, bf16, q8, q8/row, q8/gN, q4, q4/gN, q4/gN/asym, q4/gN/sym, q3k, q4k, q5k or q6k")
        }
        func group(_ s: String) throws -> Int {
            guard s.hasPrefix("g"), let g = Int(s.dropFirst()) else { throw fail() }
            guard Self.isSupportedGroup(g) else {
                throw BFFNError(.usage, "storage '\(text)': the group must be \(Self.groupRule), not \(g)")
            }
            return g
        }
        switch (parts.first ?? "", parts.count) {
        case ("f32", 1): self = .f32
        case ("f16", 1): self = .f16
        case ("bf16", 1): self = .bf16
        case ("q8", 1): self = .q8(group: nil)
        case ("q8", 2): self = parts[1] == "row" ? .q8(group: nil) : .q8(group: try group(parts[1]))
        case ("q4k", 1): self = .q4k
        case ("q5k", 1): self = .q5k
        case ("q6k", 1): self = .q6k
        case ("q3k", 1): self = .q3k
        case ("q4", 1): self = .q4(group: Self.defaultQ4Group, asymmetric: true)
        case ("q4", 2): self = .q4(group: try group(parts[1]), asymmetric: true)
        case ("q4", 3):
            guard parts[2] == "asym" || parts[2] == "sym" else { throw fail() }
            self = .q4(group: try group(parts[1]), asymmetric: parts[2] == "asym")
        default: throw fail()
        }
    }

    /// This scheme with a group size and symmetry given separately (the converter's `--group-size` and
    /// `--symmetric`): `group` replaces the group of q8 and q4, `symmetric` makes q4 symmetric; float types
    /// are unchanged.
    public func with(group: Int?, symmetric: Bool) -> StorageType {
        switch self {
        case .f32, .f16, .bf16, .q4k, .q5k, .q6k, .q3k: return self
        case .q8(let g): return .q8(group: group ?? g)
        case .q4(let g, let a): return .q4(group: group ?? g, asymmetric: a && !symmetric)
        }
    }

    // MARK: Manifest

    /// The manifest's `dtype`: F32, F16, BF16, Q8, Q4, Q3K, Q4K, Q5K, Q6K.
    public var manifestName: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q8: return "Q8"
        case .q4: return "Q4"
        case .q4k: return "Q4K"
        case .q5k: return "Q5K"
        case .q6k: return "Q6K"
        case .q3k: return "Q3K"
        }
    }

    /// How reports label a resolved type: F32, F16, BF16, Q8/g32, Q4/g32/asym.
    public var label: String {
        switch self {
        case .f32, .f16, .bf16, .q4k, .q5k, .q6k, .q3k: return manifestName
        case .q8(let g): return "Q8/g\(g ?? 0)"
        case .q4(let g, let a): return "Q4/g\(g)/\(a ? "asym" : "sym")"
        }
    }

    /// The manifest fields of a resolved type: `dtype`, and `group` (q8, q4) and `asymmetric` (q4).
    public var manifestFields: [(String, JSONValue)] {
        switch self {
        case .f32, .f16, .bf16, .q4k, .q5k, .q6k, .q3k: return [("dtype", .string(manifestName))]
        case .q8(let g): return [("dtype", "Q8"), ("group", .integer(g ?? 0))]
        case .q4(let g, let a): return [("dtype", "Q4"), ("group", .integer(g)), ("asymmetric", .bool(a))]
        }
    }

    /// Reads the type a manifest entry's `dtype` (with `group`, `asymmetric`) names.
    /// - Throws: `.invalidJSON` for a missing or out-of-range group or a Q4 without `asymmetric`,
    ///   `.unknownDType` for another dtype; each names `file`, `field` and the manifest's `offset`.
    public init(manifest entry: JSONValue, file: String, field: String, offset: UInt64) throws {
        let name = entry["dtype"]?.stringValue ?? ""
        switch name {
        case "F32": self = .f32
        case "F16": self = .f16
        case "BF16": self = .bf16
        case "Q4K": self = .q4k
        case "Q5K": self = .q5k
        case "Q6K": self = .q6k
        case "Q3K": self = .q3k
        case "Q8", "Q4":
            guard let g = entry["group"]?.intValue, Self.isSupportedGroup(Int(g)) else {
                throw BFFNError(.invalidJSON, "\(name) needs a 'group' that is \(Self.groupRule)", file: file, field: field, offset: offset)
            }
            if name == "Q8" {
                self = .q8(group: Int(g))
                return
            }
            guard let a = entry["asymmetric"]?.boolValue else {
                throw BFFNError(.invalidJSON, "Q4 needs 'asymmetric'", file: file, field: field, offset: offset)
            }
            self = .q4(group: Int(g), asymmetric: a)
        default:
            throw BFFNError(.unknownDType, "unknown storage type '\(name)' (F32, F16, BF16, Q8, Q4, Q3K, Q4K, Q5K, Q6K)", file: file, field: field, offset: offset)
        }
    }

    // MARK: Checkpoint dtypes

    /// The storage type of a checkpoint dtype the kernels read (F32, F16, BF16), nil for any other.
    public init?(_ dtype: DType) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        default: return nil
        }
    }

    /// The checkpoint dtype of a float type; nil for quantized types.
    public var dtype: DType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8, .q4, .q4k, .q5k, .q6k, .q3k: return nil
        }
    }

    /// Bits per stored code or element: 3 (`.q3k`), 4 (`.q4`, `.q4k`), 5 (`.q5k`), 6 (`.q6k`), 8 (`.q8`), 16 (f16,
    /// bf16), 32 (f32), not counting the per-group scales and offsets (`rowBytes(cols:)` does); the precision
    /// verification judges by.
    public var bits: Int {
        switch self {
        case .q3k: return 3
        case .q4, .q4k: return 4
        case .q5k: return 5
        case .q6k: return 6
        case .q8: return 8
        case .f16, .bf16: return 16
        case .f32: return 32
        }
    }
}

/// Work generic over a weight loader, handed the loader of a storage type by `StorageType.withLoader`.
public protocol WeightLoaderBody {
    associatedtype Result
    /// Runs the work with `loader`.
    func callAsFunction<L: WeightLoader>(_ loader: L) -> Result
}
