import BFFNCore

/// One tensor of a checkpoint, whatever file format holds it.
public struct TensorInfo: Sendable, Equatable {
    /// The name as stored.
    public var name: String
    /// The element type.
    public var dtype: DType
    /// The shape, outermost first.
    public var shape: [Int]
    /// Element strides when the tensor is a strided view (torch checkpoints); nil when stored row-major.
    public var strides: [Int]?
    /// The index into `Checkpoint.files` of the file that holds it.
    public var fileIndex: Int
    /// An identifier of the underlying storage, shared by tensors that view the same bytes (torch only).
    public var storageKey: String?

    /// The element count.
    public var elementCount: UInt64 { Shape.elementCount(shape) ?? 0 }
    /// The tensor's size in bytes (row-major, as `bytes(of:)` returns it).
    public var byteCount: UInt64 { dtype.byteCount(elements: elementCount) ?? 0 }

    /// True when the elements are stored row-major without gaps.
    public var isContiguous: Bool {
        guard let strides else { return true }
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[i] != 1 && strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }
}
