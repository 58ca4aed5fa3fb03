import BFFNCore
import BFFNKernels
import BFFNModel

/// A named quantization recipe (`convert --quant q4`): the storage of each tensor class and the scale search, with
/// the reason for each choice, which the pack's manifest records per tensor (`rule`). The one home of what
/// `--quant NAME` means; a storage spelling (`q4/g32/asym`) names no recipe and stores every class alike.
public struct QuantRecipe: Sendable, Equatable {
    /// One class's storage in the recipe and why.
    public struct Rule: Sendable, Equatable {
        public var tensorClass: TensorClass
        public var storage: StorageType
        public var reason: String
        public init(_ tensorClass: TensorClass, _ storage: StorageType, _ reason: String) {
            self.tensorClass = tensorClass
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

    /// The rule for `tensorClass`, if the recipe has one.
    public func rule(for tensorClass: TensorClass) -> Rule? { rules.first { $0.tensorClass == tensorClass } }

    /// This recipe with `--group-size` and `--symmetric` applied to every storage it names.
    public func with(group: Int?, symmetric: Bool) -> QuantRecipe {
        var r = self
        r.base = base.with(group: group, symmetric: symmetric)
        r.rules = rules.map { Rule($0.tensorClass, $0.storage.with(group: group, symmetric: symmetric), $0.reason) }
        return r
    }

    /// `q4`, the default 4-bit recipe: experts and attention q4/g32 (scale and offset), the embedding and the LM head
    /// q8 with one scale per row, every q8/q4 scale from the importance-weighted search. On the bundled model it
    /// passes `bffn verify` on prompts and held-out text (README, "Quantization"), with a file no larger than the
    /// earlier quick-start pack; a test converts that model with it and verifies. The reasons quote the measured
    /// sensitivity on the bundled model (one class at q4, every other q8, held-out text; experts alone: 0.015,
    /// attention alone: 0.018). Per weight the embedding is the most sensitive class, then the attention, then the
    /// head; attention q8 with a q4 head measured better on the text (0.030 against 0.040) but makes the file 16 kB
    /// larger than the budget, so this recipe keeps the head at q8.
    public static let q4 = QuantRecipe(
        name: "q4", summary: "experts and attention q4/g32, embedding and head q8 per row, weighted scale search",
        base: .q4(group: 32, asymmetric: true),
        rules: [
            Rule(.embeddings, .q8(group: nil), "q4 alone: KLD 0.026"),
            Rule(.head, .q8(group: nil), "q4 alone: KLD 0.011"),
        ],
        search: .weighted)

    /// `q4_k_m`: experts q4k (super-blocks of 256, 4.5 bits a weight), attention, embedding and head q8 per row,
    /// weighted scale search. The bytes q4k saves on the experts pay for q8 attention (the second most sensitive
    /// class per weight): on the bundled model the file is 1.1 MB smaller than `q4`'s and the held-out text's mean
    /// KLD about half (README, "Quantization"; reasons: each class alone at q4, every other q8, held-out text).
    public static let q4KM = QuantRecipe(
        name: "q4_k_m", summary: "experts q4k (4.5 bits), attention, embedding and head q8 per row, weighted scale search",
        base: .q4k,
        rules: [
            Rule(.attention, .q8(group: nil), "q4 alone: KLD 0.018"),
            Rule(.embeddings, .q8(group: nil), "q4 alone: KLD 0.026"),
            Rule(.head, .q8(group: nil), "q4 alone: KLD 0.011"),
        ],
        search: .weighted)

    /// `q5_k_m`: `q4_k_m` with the experts q5k (5.25 bits a weight, symmetric): the bytes left under `q4`'s file size
    /// spent on the experts, the class that dominates `q4_k_m`'s remaining error (README, "Quantization").
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
