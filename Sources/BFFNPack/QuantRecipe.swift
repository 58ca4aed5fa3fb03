import BFFNCore
import BFFNKernels
import BFFNModel

/// A named quantization recipe (`convert --quant q4`): the storage of each tensor class and the scale search, with
/// the reason for each choice, which the pack's manifest records per tensor (`rule`). The one home of what
/// `--quant NAME` means; a storage spelling (`q4/g32/asym`) names no recipe and stores every class alike.
public struct QuantRecipe: Sendable, Equatable {
    /// The storage of some tensors in the recipe (a class, an expert part, or a class in some layers) and why.
    public struct Rule: Sendable, Equatable {
        /// The tensors the rule covers.
        public var scope: TensorScope
        /// Their storage.
        public var storage: StorageType
        /// Why, as the manifest records it (the measured sensitivity behind the choice).
        public var reason: String
        /// The class the rule covers.
        public var tensorClass: TensorClass { scope.tensorClass }
        /// A rule for every tensor of `tensorClass`.
        public init(_ tensorClass: TensorClass, _ storage: StorageType, _ reason: String) {
            self.init(TensorScope(tensorClass), storage, reason)
        }
        /// A rule for the tensors `scope` covers.
        public init(_ scope: TensorScope, _ storage: StorageType, _ reason: String) {
            self.scope = scope
            self.storage = storage
            self.reason = reason
        }
    }

    /// The name `--quant` takes.
    public var name: String
    /// One line for `--help` and the README.
    public var summary: String
    /// The storage of every quantizable class no rule names.
    public var base: StorageType
    /// Classes stored otherwise, with the reason.
    public var rules: [Rule]
    /// How the recipe chooses q8/q4 group scales.
    public var search: WeightQuantizer.ScaleSearch

    /// A recipe: `base` for every quantizable tensor no rule covers, `rules` for the rest, scales chosen by `search`.
    /// Library users may build their own; `--quant` names only the built-in ones (`all`).
    public init(name: String, summary: String, base: StorageType, rules: [Rule], search: WeightQuantizer.ScaleSearch) {
        self.name = name
        self.summary = summary
        self.base = base
        self.rules = rules
        self.search = search
    }

    /// The rule that decides a tensor of `tensorClass` (an expert `part`, in `layer` or outside layers): of the
    /// recipe's rules covering it, the narrowest scope, then the first listed; nil when none does (the base).
    public func rule(for tensorClass: TensorClass, part: ExpertPart? = nil, layer: Int? = nil) -> Rule? {
        var best: Rule?
        for r in rules where r.scope.covers(tensorClass, part: part, layer: layer) {
            if best == nil || r.scope.specificity > best!.scope.specificity { best = r }
        }
        return best
    }

    /// This recipe with `--group-size` and `--symmetric` applied to every storage it names.
    public func with(group: Int?, symmetric: Bool) -> QuantRecipe {
        var r = self
        r.base = base.with(group: group, symmetric: symmetric)
        r.rules = rules.map { Rule($0.scope, $0.storage.with(group: group, symmetric: symmetric), $0.reason) }
        return r
    }

    /// `q4`, the default 4-bit recipe: experts q4k (super-blocks of 256, 4.5 bits a weight), attention and embedding
    /// q8 with one scale per row, the LM head q6k, every scale from the importance-weighted search. The experts are
    /// most of the weights and per weight the least sensitive class, so they take the 4-bit format; the head, the
    /// least sensitive of the rest, takes q6k. On the bundled model the file is 0.36 MB smaller than `q4-all`'s (what
    /// `--quant q4` stored before recipes) at a fifth of its KL divergence, and passes `bffn verify` on prompts and
    /// held-out text (README, "Quantization"); a test converts that model with it and verifies. The reasons quote
    /// `bffn calibrate --sensitivity` on the bundled model's calibration text (each class alone at the low type,
    /// the rest as the source).
    public static let q4 = QuantRecipe(
        name: "q4", summary: "experts q4k (4.5 bits), attention and embedding q8 per row, head q6k, weighted scale search",
        base: .q4k,
        rules: [
            Rule(.attention, .q8(group: nil), "q4k alone: KLD 0.0177"),
            Rule(.embeddings, .q8(group: nil), "q4k alone: KLD 0.0224"),
            Rule(.head, .q6k, "q6k alone: KLD 0.00098"),
        ],
        search: .weighted)

    /// `q4_k_m`: experts q4k (4.5 bits a weight), attention, embedding and head q8 per row, weighted scale search:
    /// `q4` with a q8 head, 0.56 MB larger on the bundled model for a slightly lower KL divergence (README,
    /// "Quantization").
    public static let q4KM = QuantRecipe(
        name: "q4_k_m", summary: "experts q4k (4.5 bits), attention, embedding and head q8 per row, weighted scale search",
        base: .q4k,
        rules: [
            Rule(.attention, .q8(group: nil), "q4k alone: KLD 0.0177"),
            Rule(.embeddings, .q8(group: nil), "q4k alone: KLD 0.0224"),
            Rule(.head, .q8(group: nil), "q4k alone: KLD 0.0103"),
        ],
        search: .weighted)

    /// `q5_k_m`: `q4_k_m` with the experts q5k (5.25 bits a weight, symmetric): the experts dominate `q4_k_m`'s
    /// remaining error, and on the bundled model the file stays under the earlier quick-start pack's (README,
    /// "Quantization").
    public static let q5KM = QuantRecipe(
        name: "q5_k_m", summary: "experts q5k (5.25 bits), attention, embedding and head q8 per row, weighted scale search",
        base: .q5k, rules: q4KM.rules, search: .weighted)

    /// `q6_k`: a q8-class recipe in fewer bytes: experts q6k (6.3125 bits a weight, symmetric), attention, embedding and
    /// head q8 per row, weighted scale search. The sensitivity table (`bffn calibrate --sensitivity --sensitivity-quant
    /// q6k`: each class alone at q6k, the rest as the source, calibration text) puts the experts lowest per weight
    /// (0.0016 for 9.2 M weights against 0.0010 ... 0.0023 for the 2.5 M of each other class), so they alone take q6k;
    /// on the bundled model the file is 1.8 MB (10 %) smaller than `q8`'s, at about twice its KLD (README,
    /// "Quantization").
    public static let q6K = QuantRecipe(
        name: "q6_k", summary: "experts q6k (6.3 bits), attention, embedding and head q8 per row, weighted scale search",
        base: .q6k,
        rules: [
            Rule(.attention, .q8(group: nil), "q6k alone: KLD 0.0018"),
            Rule(.embeddings, .q8(group: nil), "q6k alone: KLD 0.0023"),
            Rule(.head, .q8(group: nil), "q6k alone: KLD 0.00098"),
        ],
        search: .weighted)

    /// `q3_k_m`: experts q3k (3.4375 bits a weight), attention, embedding and head q8 per row, weighted scale search.
    /// The sensitivity table at q3k (each class alone, the rest as the source, calibration text) keeps every class but
    /// the experts at q8: per weight the embedding (0.099 for 2.6 M weights), the attention (0.073) and the head
    /// (0.046) are three to five times as sensitive as the experts (0.068 for 9.2 M). The experts alone at q3k already
    /// cost more than 0.05 mean KLD on the bundled model's held-out text, so no recipe with 3-bit experts reaches the
    /// 0.03 asked for there, nor verify's 0.05 (README, "Quantization").
    public static let q3KM = QuantRecipe(
        name: "q3_k_m", summary: "experts q3k (3.4 bits), attention, embedding and head q8 per row, weighted scale search",
        base: .q3k,
        rules: [
            Rule(.attention, .q8(group: nil), "q3k alone: KLD 0.073"),
            Rule(.embeddings, .q8(group: nil), "q3k alone: KLD 0.099"),
            Rule(.head, .q8(group: nil), "q3k alone: KLD 0.046"),
        ],
        search: .weighted)

    /// `q4-all`: every quantizable class q4/g32 with scale and offset, round-to-nearest scales (what `--quant q4`
    /// stored before recipes existed, byte for byte).
    public static let q4All = QuantRecipe(
        name: "q4-all", summary: "every class q4/g32 (embedding and head included), round-to-nearest scales",
        base: .q4(group: 32, asymmetric: true), rules: [], search: .nearest)

    /// `q8`: every quantizable class q8 with one scale per row, weighted scale search.
    public static let q8 = QuantRecipe(
        name: "q8", summary: "every class q8 per row, weighted scale search", base: .q8(group: nil), rules: [], search: .weighted)

    /// Every recipe, in `--help` order.
    public static let all: [QuantRecipe] = [q4, q3KM, q4KM, q5KM, q6K, q4All, q8]

    /// The recipe called `name` (case-insensitive), nil for any other.
    public static func named(_ name: String) -> QuantRecipe? { all.first { $0.name == name.lowercased() } }
}

/// What `--quant` names: a recipe (`q4`, `q3_k_m`, `q4_k_m`, `q5_k_m`, `q6_k`, `q4-all`, `q8`) or one storage for every class
/// (`q4/g64/sym`, `bf16`).
public enum QuantChoice: Sendable, Equatable, CustomStringConvertible {
    case recipe(QuantRecipe)
    case storage(StorageType)

    /// A recipe name first, else a storage spelling.
    /// - Throws: `.usage` naming the text, the recipes and the storage spellings.
    public init(parsing text: String) throws {
        if let r = QuantRecipe.named(text) {
            self = .recipe(r)
            return
        }
        do {
            self = .storage(try StorageType(parsing: text))
        } catch let e as BFFNError {
            throw BFFNError(.usage, "unknown --quant '\(text)'; use a recipe (\(QuantRecipe.all.map(\.name).joined(separator: ", "))) or a storage: \(e.reason)",
                            field: "quant")
        }
    }

    public var description: String {
        switch self {
        case .recipe(let r): return r.name
        case .storage(let s): return s.description
        }
    }
}
