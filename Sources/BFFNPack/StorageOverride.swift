import BFFNCore
import BFFNKernels
import BFFNModel

/// One storage choice, `--override SCOPE=SCHEME` (e.g. `attention=q8`, `experts.down=q6k`, `attention@0,6=q8`): the
/// one place that parses and checks it, for the command line, the C interface and device profiles. Only the classes
/// in `TensorClass.quantizable` may be named (an override of another cannot be made, so `ConvertOptions` never holds
/// one); the router and norms always keep their source dtype. Where several overrides cover a tensor, the
/// narrowest scope decides, then the later one (`ConvertOptions.override(for:part:layer:)`).
public struct StorageOverride: Hashable, Sendable, CustomStringConvertible {
    /// The tensors whose storage changes.
    public let scope: TensorScope
    /// Their storage, as spelt (group and symmetry qualifiers such as `--group-size` are applied later).
    public let storage: StorageType

    /// The class the scope covers.
    public var tensorClass: TensorClass { scope.tensorClass }

    /// An override of the tensors `scope` covers.
    /// - Throws: `.usage` when the class cannot be overridden (router, norms).
    public init(_ scope: TensorScope, _ storage: StorageType) throws {
        try StorageOverride.check(scope.tensorClass)
        self.scope = scope
        self.storage = storage
    }

    /// An override of every tensor of `tensorClass`.
    /// - Throws: `.usage` when the class cannot be overridden (router, norms).
    public init(_ tensorClass: TensorClass, _ storage: StorageType) throws {
        try self.init(TensorScope(tensorClass), storage)
    }

    /// Parses `SCOPE=SCHEME` (both case-insensitive; the scope as `TensorScope(parsing:)`, the scheme as
    /// `StorageType(parsing:)` reads it).
    /// - Throws: `.usage` for a missing `=`, an unknown or fixed class, a malformed scope, or an unknown scheme.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw BFFNError(.usage, "--override takes CLASS=SCHEME (e.g. attention=q8, experts.down=q6k, attention@0,6=q8), not '\(text)'", field: "override")
        }
        try self.init(try TensorScope(parsing: parts[0]), try StorageType(parsing: parts[1]))
    }

    /// `SCOPE=SCHEME`, as `--override` takes it.
    public var description: String { "\(scope)=\(storage)" }

    /// This override with `--group-size` and `--symmetric` applied to its storage.
    public func with(group: Int?, symmetric: Bool) -> StorageOverride {
        StorageOverride(checked: scope, storage.with(group: group, symmetric: symmetric))
    }

    /// An override whose class has been checked.
    private init(checked scope: TensorScope, _ storage: StorageType) {
        self.scope = scope
        self.storage = storage
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
}
