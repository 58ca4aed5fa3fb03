import BFFNCheckpoint
import BFFNCore
import BFFNSafetensors

/// The tensors of a weight file or checkpoint, for reading them as arrays: a single .safetensors file (any, not
/// only a model's), a sharded folder or index, or a PyTorch `pytorch_model.bin` (read by the restricted pickle
/// reader: no code is executed).
public final class TensorFile: @unchecked Sendable {
    /// One tensor: its name, dtype and shape (outermost first).
    public struct Tensor: Sendable, Equatable {
        public var name: String, dtype: DType, shape: [Int]
    }

    /// Every tensor, in name order.
    public let tensors: [Tensor]
    private let single: SafetensorsFile?
    private let checkpoint: Checkpoint?

    /// Opens `path`: a file ending in .safetensors is read on its own; anything else as a checkpoint.
    /// - Throws: the readers' errors naming file, field and offset.
    public init(path: String) throws {
        var info = stat()
        let isFile = stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        if isFile && path.hasSuffix(".safetensors") {
            let file = try SafetensorsFile(path: path)
            single = file
            checkpoint = nil
            tensors = file.entries.map { Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape) }.sorted { $0.name < $1.name }
        } else {
            let c = try Checkpoint(path: path)
            single = nil
            checkpoint = c
            tensors = c.tensors.map { Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape) }.sorted { $0.name < $1.name }
        }
    }

    /// The row-major bytes of `tensor`: a view of the mapped file where the bytes are stored that way (no copy),
    /// else gathered (strided PyTorch views). The bytes live as long as the returned value.
    /// - Throws: `.missingTensor` for a name not in the file; read errors (a bad CRC, a corrupt stream).
    public func bytes(of tensor: Tensor) throws -> LoadedBytes {
        if let single {
            guard let e = single.entry(named: tensor.name) else { throw BFFNError(.missingTensor, "no tensor of this name", file: single.path, field: tensor.name) }
            return LoadedBytes(view: single.bytes(of: e), owner: single)
        }
        guard let c = checkpoint, let info = c.tensor(named: tensor.name) else {
            throw BFFNError(.missingTensor, "no tensor of this name", field: tensor.name)
        }
        return try c.bytes(of: info)
    }
}
