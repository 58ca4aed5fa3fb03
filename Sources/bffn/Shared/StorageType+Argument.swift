import ArgumentParser
import BFFNKernels
import BFFNPack

/// `--quant q4/g64/sym` and friends: a storage scheme parsed by `StorageType(parsing:)` (case-insensitive), so
/// the CLI, the manifest and the reports share one spelling.
extension StorageType: ExpressibleByArgument {
    public init?(argument: String) {
        guard let parsed = try? StorageType(parsing: argument) else { return nil }
        self = parsed
    }

    public static var defaultCompletionKind: CompletionKind {
        .list(["f32", "f16", "bf16", "q8", "q8/row", "q8/g32", "q4", "q4/g32/asym", "q4/g32/sym", "q3k", "q4k", "q5k", "q6k"])
    }
}

/// `--override CLASS=SCHEME`: one tensor class's storage, parsed and checked by `StorageOverride(parsing:)`.
extension StorageOverride: ExpressibleByArgument {
    public init?(argument: String) {
        guard let parsed = try? StorageOverride(parsing: argument) else { return nil }
        self = parsed
    }
}

/// `convert --quant q4|q4_k_m|q4-all|q8|q4/g64/sym|...`: a recipe or a storage, parsed by `QuantChoice(parsing:)`.
extension QuantChoice: ExpressibleByArgument {
    public init?(argument: String) {
        guard let parsed = try? QuantChoice(parsing: argument) else { return nil }
        self = parsed
    }

    public static var defaultCompletionKind: CompletionKind {
        .list(QuantRecipe.all.map(\.name) + ["f32", "f16", "bf16", "q8/row", "q8/g32", "q4/g32/asym", "q4/g32/sym"])
    }
}
