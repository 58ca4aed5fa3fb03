import BFFNCore
import Synchronization

/// One named tensor of a `torch.save` checkpoint.
public struct TorchTensorEntry: Sendable, Equatable {
    /// The state-dict key.
    public var name: String
    /// Where and how the tensor lies in its storage.
    public var record: TorchTensorRecord
}

/// A PyTorch `pytorch_model.bin` (the zip format of torch ≥ 1.6) opened for reading.
///
/// Opening reads the zip directory and runs `data.pkl` through the restricted `PickleMachine`; no tensor
/// bytes are read. `bytes(of:)` returns a zero-copy view for contiguous tensors in stored entries and a
/// gathered copy for strided ones. Each storage is read (and CRC-checked) once and cached, so tensors that
/// share a storage (a tied head, row slices) read it only once.
public final class TorchCheckpointFile: @unchecked Sendable {
    /// The archive.
    public let archive: ZipArchive
    /// The archive's top-level folder (the file stem or "archive"; never assumed).
    public let folder: String
    /// Tensors in state-dict order.
    public let tensors: [TorchTensorEntry]
    private let index: [String: Int]
    /// Storages read so far, by key (a storage shared by several tensors is read once).
    private let storageCache = Mutex<[String: LoadedBytes]>([:])

    /// The path the file was opened with.
    public var path: String { archive.file.path }

    /// True when stored storage entries are read without checking their CRC-32 (see `init`).
    public let defersStorageChecksums: Bool

    /// Opens `path`.
    /// - Parameter deferStorageChecksums: read stored (uncompressed) storage entries without checking their
    ///   CRC-32 on first use; the caller takes `deferredStorageChecks` and checks them itself, in one pass over the
    ///   file (the converter does, while it checksums the whole source). Deflated entries are always checked.
    /// - Throws: `BFFNError` naming the file, the tensor or entry, and the byte offset.
    public init(path: String, deferStorageChecksums: Bool = false) throws {
        defersStorageChecksums = deferStorageChecksums
        let file = try MappedFile(path: path)
        if file.size >= 2, file.bytes[0] == 0x80 {
            throw BFFNError(.unsupported, "this is the legacy (pre-1.6) torch.save format; re-save it with a current PyTorch",
                            file: path, offset: 0)
        }
        archive = try ZipArchive(file: file)
        let pickles = archive.entries.filter {
            let parts = $0.name.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1] == "data.pkl"
        }
        guard pickles.count == 1 else {
            throw BFFNError(.malformed, pickles.isEmpty ? "no <folder>/data.pkl entry: not a torch.save archive"
                                                        : "\(pickles.count) data.pkl entries; expected one",
                            file: path, field: "data.pkl")
        }
        let pkl = pickles[0]
        folder = String(pkl.name.split(separator: "/")[0])
        if let order = archive.entry(named: "\(folder)/byteorder") {
            let b = try archive.contents(of: order)
            guard b.contents == Array("little".utf8) else {
                throw BFFNError(.unsupported, "byteorder is '\(String(decoding: b.contents, as: UTF8.self))'; only little-endian checkpoints are read",
                                file: path, field: order.name, offset: order.dataOffset)
            }
        }
        guard pkl.uncompressedSize <= 1 << 30 else {
            throw BFFNError(.limitExceeded, "data.pkl declares \(pkl.uncompressedSize) bytes; a state dict's pickle is far smaller",
                            file: path, field: pkl.name, offset: pkl.dataOffset)
        }
        let pickleBytes = try archive.contents(of: pkl)
        let top = try pickleBytes.withBytes { bytes in
            var machine = PickleMachine(bytes, file: path, base: pkl.method == .stored ? pkl.dataOffset : 0)
            return try machine.run()
        }
        guard case .dict(let dict) = top else {
            throw BFFNError(.malformed, "data.pkl holds a \(top.kindName), not a state dict", file: path, field: pkl.name)
        }
        var tensors: [TorchTensorEntry] = []
        var index: [String: Int] = [:]
        for (k, v) in zip(dict.keys, dict.values) {
            guard case .string(let name) = k else {
                throw BFFNError(.malformed, "state dict key is a \(k.kindName), not a string", file: path, field: pkl.name)
            }
            guard case .tensor(let record) = v else {
                throw BFFNError(.malformed, "state dict value is a \(v.kindName), not a tensor", file: path, field: name)
            }
            try TorchCheckpointFile.validate(record, name: name, folder: folder, archive: archive)
            index[name] = tensors.count
            tensors.append(TorchTensorEntry(name: name, record: record))
        }
        self.tensors = tensors
        self.index = index
    }

    /// The tensor named `name`.
    public func tensor(named name: String) -> TorchTensorEntry? { index[name].map { tensors[$0] } }

    /// Checks that a tensor's storage entry exists, is as large as the storage declares, and holds every
    /// element the shape and strides reach.
    static func validate(_ r: TorchTensorRecord, name: String, folder: String, archive: ZipArchive) throws {
        let path = archive.file.path
        let entryName = "\(folder)/data/\(r.storage.key)"
        guard let entry = archive.entry(named: entryName) else {
            throw BFFNError(.missingTensor, "storage entry \(entryName) is missing from the archive", file: path, field: name)
        }
        guard let storageBytes = r.storage.dtype.byteCount(elements: r.storage.elementCount) else {
            throw BFFNError(.limitExceeded, "storage of \(r.storage.elementCount) elements overflows", file: path, field: name)
        }
        guard entry.uncompressedSize == storageBytes else {
            throw BFFNError(.shapeMismatch, "storage \(r.storage.key) declares \(storageBytes) bytes but its entry holds \(entry.uncompressedSize)",
                            file: path, field: name, offset: entry.dataOffset)
        }
        guard r.dtype.bitWidth % 8 == 0 else {
            throw BFFNError(.unsupported, "sub-byte dtype \(r.dtype.rawValue) in a torch checkpoint", file: path, field: name)
        }
        guard let count = Shape.elementCount(r.shape) else {
            throw BFFNError(.limitExceeded, "shape \(Shape.describe(r.shape)) overflows", file: path, field: name)
        }
        if count == 0 { return }
        var reach = r.storageOffset
        for (s, st) in zip(r.shape, r.strides) {
            let (m, o1) = UInt64(s - 1).multipliedReportingOverflow(by: UInt64(st))
            let (sum, o2) = reach.addingReportingOverflow(m)
            guard !o1, !o2 else { throw BFFNError(.limitExceeded, "strides overflow", file: path, field: name) }
            reach = sum
        }
        let elementSize = UInt64(r.dtype.bitWidth / 8)
        let (lastByte, o) = (reach + 1).multipliedReportingOverflow(by: elementSize)
        guard !o, lastByte <= storageBytes else {
            throw BFFNError(.outOfBounds, "shape \(Shape.describe(r.shape)) with strides \(Shape.describe(r.strides)) at offset \(r.storageOffset) reaches byte \(o ? UInt64.max : lastByte) of a \(storageBytes)-byte storage",
                            file: path, field: name, offset: entry.dataOffset)
        }
    }

    /// The storage's bytes, read, CRC-checked and cached on first use.
    public func storageBytes(key: String) throws -> LoadedBytes {
        try storageCache.withLock { storageCache in
            if let cached = storageCache[key] { return cached }
            let name = "\(folder)/data/\(key)"
            guard let entry = archive.entry(named: name) else {
                throw BFFNError(.missingTensor, "storage entry \(name) is missing", file: path, field: name)
            }
            let b = try archive.contents(of: entry, verifyChecksum: !(defersStorageChecksums && entry.method == .stored))
            storageCache[key] = b
            return b
        }
    }

    /// The stored storage entries whose CRC-32 `storageBytes` does not check when `defersStorageChecksums`
    /// (empty otherwise), in file order.
    public var deferredStorageChecks: [ChecksummedRange] {
        guard defersStorageChecksums else { return [] }
        return archive.entries
            .filter { $0.method == .stored && $0.name.hasPrefix("\(folder)/data/") }
            .map { ChecksummedRange(name: $0.name, offset: $0.dataOffset, length: $0.compressedSize, crc32: $0.crc32) }
            .sorted { $0.offset < $1.offset }
    }

    /// The tensor's bytes in row-major order: a view into the storage when the tensor is contiguous, else
    /// a gathered copy (owned by the returned object).
    public func bytes(of tensor: TorchTensorEntry) throws -> LoadedBytes {
        let r = tensor.record
        let storage = try storageBytes(key: r.storage.key)
        let elementSize = r.dtype.bitWidth / 8
        let count = Int(Shape.elementCount(r.shape) ?? 0)
        let start = Int(r.storageOffset) * elementSize
        if r.isContiguous || count == 0 {
            return LoadedBytes(view: UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + count * elementSize)]), owner: storage)
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: count * elementSize, alignment: 64)
        StridedCopy.gather(from: storage.bytes.baseAddress! + start, shape: r.shape, strides: r.strides,
                           elementSize: elementSize, into: out.baseAddress!)
        return LoadedBytes(owned: out, count: count * elementSize)
    }
}

/// Copies a strided view into row-major order.
enum StridedCopy {
    /// Copies the elements of an n-D strided view (strides in elements) to `out`, row-major.
    static func gather(from base: UnsafeRawPointer, shape: [Int], strides: [Int], elementSize: Int,
                       into out: UnsafeMutableRawPointer) {
        let n = shape.count
        if n == 0 {
            out.copyMemory(from: base, byteCount: elementSize)
            return
        }
        var index = [Int](repeating: 0, count: n)
        var dst = out
        let innerCount = shape[n - 1], innerStride = strides[n - 1] * elementSize
        let total = shape.reduce(1, *)
        var done = 0
        while done < total {
            var src = base
            for d in 0..<(n - 1) { src += index[d] * strides[d] * elementSize }
            for _ in 0..<innerCount {
                dst.copyMemory(from: src, byteCount: elementSize)
                dst += elementSize
                src += innerStride
            }
            done += innerCount
            var d = n - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
