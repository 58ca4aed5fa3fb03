import BFFNCore
import BFFNKernels
import BFFNModel

/// One per-class storage choice, `--override CLASS=SCHEME` (e.g. `attention=q8`): the one place that parses
/// and checks it, for the command line and for `PackWriter` (which checks `ConvertOptions.overrides` with
/// `check(_:)`). Only the classes in `TensorClass.quantizable` may be named; the router and norms always keep
/// their source dtype.
public struct StorageOverride: Hashable, Sendable {
    /// The class whose storage changes.
    public let tensorClass: TensorClass
    /// Its storage, as spelt (group and symmetry qualifiers such as `--group-size` are applied later).
    public let storage: StorageType

    /// An override of `tensorClass`.
    /// - Throws: `.usage` when the class cannot be overridden (router, norms).
    public init(_ tensorClass: TensorClass, _ storage: StorageType) throws {
        try StorageOverride.check(tensorClass)
        self.tensorClass = tensorClass
        self.storage = storage
    }

    /// Parses `CLASS=SCHEME` (both case-insensitive; the scheme as `StorageType(parsing:)` reads it).
    /// - Throws: `.usage` for a missing `=`, an unknown or fixed class, or an unknown scheme.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw BFFNError(.usage, "--override takes CLASS=SCHEME (e.g. attention=q8), not '\(text)'", field: "override")
        }
        guard let cls = TensorClass(rawValue: parts[0].lowercased()) else {
            throw BFFNError(.usage, "--override: unknown class '\(parts[0])'; use \(StorageOverride.classList)", field: "override")
        }
        try self.init(cls, try StorageType(parsing: parts[1]))
    }

    /// The classes an override may name, comma-separated, for messages.
    public static var classList: String { TensorClass.quantizable.map(\.rawValue).joined(separator: ", ") }

    /// Checks that `tensorClass` may be overridden.
    /// - Throws: `.usage` naming the class and the ones that may be.
    public static func check(_ tensorClass: TensorClass) throws {
        guard tensorClass.isQuantizable else {
            throw BFFNError(.usage, "--override cannot change the \(tensorClass.rawValue) class; use \(classList)", field: "override")
        }
    }

    /// Checks every class of `overrides` (`ConvertOptions.overrides`).
    /// - Throws: `check(_:)`'s error for the first class, in report order, that cannot be overridden.
    public static func check(_ overrides: [TensorClass: StorageType]) throws {
        for c in overrides.keys.sorted() { try check(c) }
    }
}
