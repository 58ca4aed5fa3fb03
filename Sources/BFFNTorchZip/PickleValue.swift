import BFFNCore

/// A value on the restricted pickle machine's stack.
///
/// Containers are reference types (pickle mutates them in place through the memo) and carry their nesting
/// depth, so depth is checked in O(1) when a container is built. A container becomes frozen once it is put
/// inside another one; mutating a frozen container is refused, which rules out cycles and keeps the recorded
/// depths exact.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    /// A reference to an allowed global (a storage class, a dtype, a rebuild function, OrderedDict).
    case global(PickleGlobal)
    /// A storage named by a persistent id.
    case storage(TorchStorageRef)
    /// A tensor rebuilt by `_rebuild_tensor_v2/v3` (only its description: no bytes are read).
    case tensor(TorchTensorRecord)

    /// Nesting depth: 0 for scalars, 1 + the deepest child for containers.
    var depth: Int {
        switch self {
        case .tuple(let t): return t.depth
        case .list(let l): return l.depth
        case .dict(let d): return d.depth
        default: return 0
        }
    }

    /// A short description for error messages.
    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let g): return "global \(g.module).\(g.name)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    /// Marks a container as placed inside another (see the type's comment).
    func freeze() {
        switch self {
        case .list(let l): l.frozen = true
        case .dict(let d): d.frozen = true
        default: break
        }
    }
}

/// An immutable tuple.
public final class PickleTuple {
    public let items: [PickleValue]
    let depth: Int
    init(_ items: [PickleValue]) {
        self.items = items
        depth = 1 + (items.map(\.depth).max() ?? 0)
        for i in items { i.freeze() }
    }
}

/// A list built by EMPTY_LIST / APPEND(S).
public final class PickleList {
    public internal(set) var items: [PickleValue] = []
    var depth = 1
    var frozen = false
}

/// A dict or OrderedDict; keys keep insertion order, a repeated key replaces the value in place.
public final class PickleDict {
    public internal(set) var keys: [PickleValue] = []
    public internal(set) var values: [PickleValue] = []
    var depth = 1
    var frozen = false
    var stringIndex: [String: Int] = [:]
}

/// An allowed global, `module.name`.
public struct PickleGlobal: Equatable, Sendable {
    public var module: String
    public var name: String
}

/// A storage named by a persistent id `('storage', class, key, location, numel)`.
public struct TorchStorageRef: Equatable, Sendable {
    /// The zip entry key: the storage lives at `<folder>/data/<key>`.
    public var key: String
    /// The element type the storage class implies (`UntypedStorage` is U8, counted in bytes).
    public var dtype: DType
    /// The number of elements of `dtype` the storage holds.
    public var elementCount: UInt64
}

/// A tensor as `torch._utils._rebuild_tensor_v2/v3` describes it: a strided view of a storage.
public struct TorchTensorRecord: Equatable, Sendable {
    /// The storage the tensor views.
    public var storage: TorchStorageRef
    /// The tensor's element type (the storage's for v2; the explicit dtype for v3).
    public var dtype: DType
    /// The offset of element [0, 0, ...] from the storage start, in elements of `dtype`.
    public var storageOffset: UInt64
    /// The shape.
    public var shape: [Int]
    /// The strides, in elements of `dtype`.
    public var strides: [Int]

    /// True when the elements are laid out row-major without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[i] != 1 && strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }
}
