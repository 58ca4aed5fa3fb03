import BFFNCore
import BFFNModel

/// The two matrices of an expert, which a recipe or an override may store differently.
public enum ExpertPart: String, Sendable, CaseIterable, Comparable {
    /// The up projection (rows of the hidden width: `experts.up`).
    case up
    /// The down projection (rows of the expert width: `experts.down`).
    case down

    public static func < (a: ExpertPart, b: ExpertPart) -> Bool { a == .up && b == .down }
}

/// Which tensors of a class a storage rule covers: the whole class, one expert part (`experts.down`), or the
/// class's tensors in some layers (`attention@0,5-6`). Spelled `CLASS[.PART][@LAYERS]`, the form `--override`,
/// recipe rules and the manifest use (formats/bfpk.md, "Manifest").
///
/// Expert blocks have one storage and one size in every layer (the expert section is addressed by one block
/// size), so a scope with layers may not name the experts; their up and down projections may differ.
public struct TensorScope: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The class covered.
    public let tensorClass: TensorClass
    /// With experts: only their up or only their down projections; nil: both (and every other class).
    public let part: ExpertPart?
    /// The layers covered, ascending and distinct; nil: every tensor of the class (those outside layers too).
    public let layers: [Int]?

    /// A scope over `tensorClass`, narrowed to `part` and `layers`.
    /// - Throws: `.usage` for a part on a class other than experts, layers on the experts, an empty or negative
    ///   layer list.
    public init(_ tensorClass: TensorClass, part: ExpertPart? = nil, layers: [Int]? = nil) throws {
        if part != nil && tensorClass != .experts {
            throw BFFNError(.usage, "only the experts have up and down parts, not \(tensorClass.rawValue)", field: "override")
        }
        if let layers {
            guard tensorClass != .experts else {
                throw BFFNError(.usage, "experts are stored alike in every layer (one block size for the whole expert section); name experts.up or experts.down instead of layers",
                                field: "override")
            }
            guard !layers.isEmpty, layers.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) else {
                throw BFFNError(.usage, "a layer list needs layer numbers from 0, e.g. attention@0,5-6", field: "override")
            }
        }
        self.tensorClass = tensorClass
        self.part = part
        self.layers = layers.map { Array(Set($0)).sorted() }
    }

    /// The whole class.
    public init(_ tensorClass: TensorClass) {
        self.tensorClass = tensorClass
        part = nil
        layers = nil
    }

    /// Parses `CLASS`, `experts.up`, `experts.down` or `CLASS@LAYERS` with LAYERS a comma list of numbers and
    /// ranges (`0,5-6`); case-insensitive.
    /// - Throws: `.usage` naming the text for an unknown class or part, or a malformed layer list.
    public init(parsing text: String) throws {
        let at = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let head = at[0].lowercased()
        let dotted = head.split(separator: ".", maxSplits: 1).map(String.init)
        guard let cls = TensorClass(rawValue: dotted.first ?? "") else {
            throw BFFNError(.usage, "unknown class '\(at[0])'; use \(StorageOverride.classList), experts.up or experts.down", field: "override")
        }
        var part: ExpertPart?
        if dotted.count == 2 {
            guard let p = ExpertPart(rawValue: dotted[1]) else {
                throw BFFNError(.usage, "unknown part '\(dotted[1])' in '\(text)'; experts have the parts up and down", field: "override")
            }
            part = p
        }
        var layers: [Int]?
        if at.count == 2 { layers = try TensorScope.parseLayers(at[1], in: text) }
        try self.init(cls, part: part, layers: layers)
    }

    /// `0,5-6` as [0, 5, 6].
    static func parseLayers(_ list: String, in text: String) throws -> [Int] {
        var out: [Int] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { Int($0) }
            guard ends.allSatisfy({ $0 != nil }), let first = ends.first!, let last = ends.last!, first <= last, last - first < 1 << 20 else {
                throw BFFNError(.usage, "malformed layer list in '\(text)': use numbers and ranges such as 0,5-6", field: "override")
            }
            out += Array(first...last)
        }
        return out
    }

    /// Whether a tensor of `tensorClass` (an expert `part`, in `layer` or outside layers) is covered.
    public func covers(_ tensorClass: TensorClass, part: ExpertPart?, layer: Int?) -> Bool {
        guard tensorClass == self.tensorClass else { return false }
        if let p = self.part, p != part { return false }
        if let layers = self.layers { return layer.map { layers.contains($0) } ?? false }
        return true
    }

    /// How narrow the scope is (0: the whole class): the narrower of two scopes covering a tensor decides.
    public var specificity: Int { (part == nil ? 0 : 1) + (layers == nil ? 0 : 2) }

    /// `experts.down`, `attention@0,5-6`: consecutive layers as ranges.
    public var description: String {
        var s = tensorClass.rawValue
        if let part { s += "." + part.rawValue }
        if let layers {
            var runs: [String] = []
            var i = 0
            while i < layers.count {
                var j = i
                while j + 1 < layers.count && layers[j + 1] == layers[j] + 1 { j += 1 }
                runs.append(j > i ? "\(layers[i])-\(layers[j])" : "\(layers[i])")
                i = j + 1
            }
            s += "@" + runs.joined(separator: ",")
        }
        return s
    }

    public static func < (a: TensorScope, b: TensorScope) -> Bool {
        if a.tensorClass != b.tensorClass { return a.tensorClass < b.tensorClass }
        if a.specificity != b.specificity { return a.specificity < b.specificity }
        return a.description < b.description
    }
}
