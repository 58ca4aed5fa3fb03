import BFFNCore
import BFFNSafetensors
import BFFNTorchZip

/// A model checkpoint opened for reading: its config.json, every weight file, and its tensors.
///
/// `Checkpoint(path:)` accepts a `.safetensors` file, a `.bin` file, a shard index `.json`, or a folder
/// holding any of these (safetensors preferred when both are present). Opening reads only headers (the
/// safetensors JSON, the zip directory and `data.pkl`); tensor bytes are read by `bytes(of:)`.
public final class Checkpoint: @unchecked Sendable {
    /// The on-disk format of the weights.
    public enum Format: String, Sendable { case safetensors, pytorch }

    /// One opened weight file.
    public enum WeightFile: @unchecked Sendable {
        case safetensors(SafetensorsFile)
        case pytorch(TorchCheckpointFile)

        /// The file path.
        public var path: String {
            switch self {
            case .safetensors(let f): return f.path
            case .pytorch(let f): return f.path
            }
        }

        /// The file's mapping.
        public var mapping: MappedFile {
            switch self {
            case .safetensors(let f): return f.file
            case .pytorch(let f): return f.archive.file
            }
        }
    }

    /// Lets go of the resident pages of the weight file mapping that holds `pointer ..< pointer + count`, rounded
    /// out to 2 MiB within that mapping (`MappedFile.releaseResidentPages(around:count:)`), so a streaming reader
    /// also drops the huge pages a small tensor made resident. Bytes outside every mapping are left alone.
    public func releaseResidentPages(_ pointer: UnsafeRawPointer, count: Int) {
        if let (m, offset) = mapping(holding: pointer) { m.releaseResidentPages(around: offset, count: count) }
    }

    /// Lets go, for good, of the resident pages wholly inside `pointer ..< pointer + count` of a weight file
    /// mapping (`MappedFile.releaseRange(offset:count:)`), for a tensor that was read once and copied. Bytes
    /// outside every mapping (owned copies of compressed entries) are left alone.
    public func releaseTensorPages(_ pointer: UnsafeRawPointer, count: Int) {
        if let (m, offset) = mapping(holding: pointer) { m.releaseRange(offset: offset, count: count) }
    }

    /// The weight file mapping that `pointer` lies in, and its offset there.
    private func mapping(holding pointer: UnsafeRawPointer) -> (MappedFile, Int)? {
        for f in files {
            if let offset = f.mapping.offset(of: pointer) { return (f.mapping, offset) }
        }
        return nil
    }

    /// The weights' format.
    public let format: Format
    /// The weight files, in shard order.
    public let files: [WeightFile]
    /// The config.json path, when one was found.
    public let configPath: String?
    /// The parsed configuration (empty when there is no config.json).
    public let config: ModelConfig
    /// Every tensor, in file order then stored order.
    public let tensors: [TensorInfo]
    /// Notes about how the checkpoint was read (which file was chosen, and why).
    public let notes: [String]
    private let index: [String: Int]

    /// Opens `path` (see the type's comment for what it may be).
    /// - Throws: `BFFNError` from the readers, naming the file, tensor and byte offset; `.io` when the path
    ///   does not exist or a folder holds no weights; `.duplicateName` when two shards hold one tensor;
    ///   `.missingTensor` when an index names a tensor its shard lacks.
    /// - Parameter deferStorageChecksums: for `pytorch_model.bin` files, skip the CRC-32 check of stored entries
    ///   on first read and list them in `deferredChecksums` for the caller to check (see `TorchCheckpointFile`).
    public init(path: String, deferStorageChecksums: Bool = false) throws {
        var notes: [String] = []
        let resolved = try Checkpoint.resolve(path, notes: &notes)
        var files: [WeightFile] = []
        var tensors: [TensorInfo] = []
        var index: [String: Int] = [:]
        func add(_ t: TensorInfo, file: String) throws {
            if index[t.name] != nil {
                throw BFFNError(.duplicateName, "tensor appears in more than one weight file", file: file, field: t.name)
            }
            index[t.name] = tensors.count
            tensors.append(t)
        }
        for (i, weightPath) in resolved.weightFiles.enumerated() {
            switch resolved.format {
            case .safetensors:
                let f = try SafetensorsFile(path: weightPath)
                files.append(.safetensors(f))
                for e in f.entries {
                    try add(TensorInfo(name: e.name, dtype: e.dtype, shape: e.shape, strides: nil, fileIndex: i, storageKey: nil), file: weightPath)
                }
            case .pytorch:
                let f = try TorchCheckpointFile(path: weightPath, deferStorageChecksums: deferStorageChecksums)
                files.append(.pytorch(f))
                for t in f.tensors {
                    try add(TensorInfo(name: t.name, dtype: t.record.dtype, shape: t.record.shape, strides: t.record.strides,
                                       fileIndex: i, storageKey: "\(i)/\(t.record.storage.key)"), file: weightPath)
                }
            }
        }
        if let map = resolved.weightMap {
            for (name, shard) in map {
                guard let i = index[name] else {
                    throw BFFNError(.missingTensor, "the shard index places this tensor in \(shard), which does not hold it",
                                    file: resolved.indexPath, field: name)
                }
                let actual = files[tensors[i].fileIndex].path
                if !actual.hasSuffix("/" + shard) && actual != shard {
                    throw BFFNError(.malformed, "the shard index places this tensor in \(shard) but it is in \(actual)",
                                    file: resolved.indexPath, field: name)
                }
            }
            let mapped = Set(map.map(\.tensor))
            for t in tensors where !mapped.contains(t.name) {
                notes.append("tensor '\(t.name)' is in \(files[t.fileIndex].path) but not in the shard index")
            }
        }
        self.format = resolved.format
        self.files = files
        self.tensors = tensors
        self.index = index
        self.configPath = resolved.configPath
        self.config = try resolved.configPath.map { try ModelConfig(path: $0) } ?? ModelConfig()
        self.notes = notes
    }

    /// The tensor named `name`.
    public func tensor(named name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    /// Per weight file (by path), the byte ranges whose recorded CRC-32 was not checked on read because the
    /// checkpoint was opened with `deferStorageChecksums`; the caller must check them before trusting the bytes.
    public var deferredChecksums: [String: [ChecksummedRange]] {
        var out: [String: [ChecksummedRange]] = [:]
        for f in files {
            if case .pytorch(let t) = f, !t.deferredStorageChecks.isEmpty { out[t.path] = t.deferredStorageChecks }
        }
        return out
    }

    /// The paths of the weight files.
    public var filePaths: [String] { files.map(\.path) }

    /// The file errors about the model as a whole are reported against: the one weight file, or config.json.
    public var primaryFile: String? { files.count == 1 ? files[0].path : configPath }

    /// The row-major bytes of `tensor`: zero-copy where the storage allows, gathered for strided views.
    /// - Throws: read errors of the underlying file (a bad CRC, a corrupt deflate stream).
    public func bytes(of tensor: TensorInfo) throws -> LoadedBytes {
        switch files[tensor.fileIndex] {
        case .safetensors(let f):
            return LoadedBytes(view: f.bytes(of: f.entry(named: tensor.name)!), owner: f)
        case .pytorch(let f):
            return try f.bytes(of: f.tensor(named: tensor.name)!)
        }
    }

    // MARK: - Resolving a path

    struct Resolved {
        var format: Format
        var weightFiles: [String]
        var configPath: String?
        var weightMap: [(tensor: String, file: String)]?
        var indexPath: String?
    }

    static func isDirectory(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether `path` is a folder.
    /// - Throws: `.io` with the system's reason (no such file, permission denied, not a directory, ...).
    static func requireKind(_ path: String) throws -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw BFFNError(.io, "cannot open: \(String(cString: strerror(errno)))", file: path)
        }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool { isDirectory(path) == false }


    static func resolve(_ path: String, notes: inout [String]) throws -> Resolved {
        let isDir = try requireKind(path)
        let folder = isDir ? path : (path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ".")
        let configCandidate = folder + "/config.json"
        let configPath = exists(configCandidate) ? configCandidate : nil
        if isDir {
            let names = try Directory.names(in: path)
            // Only the standard weight file names: a folder may hold other .safetensors files (reference
            // outputs, optimizer states) that are not the model.
            let stChoice = names.contains("model.safetensors.index.json") ? "model.safetensors.index.json"
                : names.contains("model.safetensors") ? "model.safetensors" : nil
            let binChoice = names.contains("pytorch_model.bin.index.json") ? "pytorch_model.bin.index.json"
                : names.contains("pytorch_model.bin") ? "pytorch_model.bin" : nil
            guard let choice = stChoice ?? binChoice else {
                throw BFFNError(.io, "folder holds no model.safetensors(.index.json) or pytorch_model.bin(.index.json)", file: path)
            }
            if stChoice != nil && binChoice != nil {
                notes.append("both safetensors and pytorch_model.bin weights are present; reading \(choice)")
            }
            var r = try resolve(path + "/" + choice, notes: &notes)
            r.configPath = configPath
            return r
        }
        let baseName = path.split(separator: "/").last.map(String.init) ?? path
        if ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"].contains(baseName) {
            throw BFFNError(.unsupported, "this is the model's \(baseName), not its weights; pass the folder that holds it (\(folder)) or a weight file",
                            file: path)
        }
        if path.hasSuffix(".json") {
            let index = try ShardIndex(path: path)
            guard !index.shardFiles.isEmpty else {
                throw BFFNError(.invalidJSON, "shard index lists no files", file: path, field: "weight_map")
            }
            let isST = index.shardFiles.allSatisfy { $0.hasSuffix(".safetensors") }
            let isBin = index.shardFiles.allSatisfy { $0.hasSuffix(".bin") }
            guard isST || isBin else {
                throw BFFNError(.malformed, "shard index mixes file types or names files that are neither .safetensors nor .bin",
                                file: path, field: "weight_map")
            }
            return Resolved(format: isST ? .safetensors : .pytorch, weightFiles: index.shardFiles.map { folder + "/" + $0 },
                            configPath: configPath, weightMap: index.weightMap, indexPath: path)
        }
        if path.hasSuffix(".safetensors") {
            return Resolved(format: .safetensors, weightFiles: [path], configPath: configPath)
        }
        if path.hasSuffix(".bin") || path.hasSuffix(".pt") || path.hasSuffix(".pth") {
            return Resolved(format: .pytorch, weightFiles: [path], configPath: configPath)
        }
        // Unknown extension: decide by content (zip magic vs an 8-byte length followed by '{').
        let f = try MappedFile(path: path)
        if f.size >= 4 && f.bytes.loadUnaligned(as: UInt32.self) == 0x0403_4B50 {
            return Resolved(format: .pytorch, weightFiles: [path], configPath: configPath)
        }
        if f.size >= 9 && f.bytes[8] == UInt8(ascii: "{") {
            return Resolved(format: .safetensors, weightFiles: [path], configPath: configPath)
        }
        throw BFFNError(.unsupported, "not a safetensors file, a torch.save zip archive, or a shard index", file: path, offset: 0)
    }
}
