import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

extension ModelWeights {
    /// The weights of a packed file: dense tensors by name, experts straight from their contiguous blocks.
    /// - Throws: `.missingTensor` when the manifest lacks a tensor the architecture needs.
    public convenience init(pack: PackFile) throws {
        let a = pack.architecture
        func matrix(_ name: String, rows: Int?, cols: Int?) throws -> WeightMatrix {
            guard let t = pack.tensor(named: name) else {
                throw BFFNError(.missingTensor, "the packed file has no such tensor", file: pack.path, field: name)
            }
            let b = pack.bytes(at: t.offset, count: t.bytes)
            let r = rows ?? (t.shape.count >= 2 ? t.shape[0] : 1)
            let c = cols ?? (t.shape.count >= 2 ? t.shape.dropFirst().reduce(1, *) : (t.shape.first ?? 1))
            return WeightMatrix(base: b.bytes.baseAddress!, type: t.storage, rows: r, cols: c)
        }
        let names = TensorNames.published
        try self.init(architecture: a, config: pack.config, names: names, matrix: matrix) { l in
            guard let e = pack.experts else {
                throw BFFNError(.missingTensor, "the packed file has no expert blocks", file: pack.path, field: "experts")
            }
            let p = names.layer(l)
            let router = try matrix(p + names.router, rows: nil, cols: nil)
            let norm = a.routerNorm == .rms ? try matrix(p + names.routerNorm, rows: 1, cols: nil) : nil
            var ups: [WeightMatrix] = [], downs: [WeightMatrix] = []
            for s in 0..<e.count {
                let base = pack.file.bytes.baseAddress! + Int(e.blockOffset(layer: l, slot: s))
                ups.append(WeightMatrix(base: base, type: e.upStorage, rows: e.expertSize, cols: e.hiddenSize))
                downs.append(WeightMatrix(base: base + Int(e.upBytes), type: e.downStorage, rows: e.hiddenSize, cols: e.expertSize))
            }
            return ExpertWeights(router: router, routerNorm: norm, up: ups, down: downs, sourceIndex: e.order[l])
        }
        keepAlive = [pack, pack.file]
    }

    /// Opens the weights of any model file bffn reads, to run it: a `.bfpk` pack, or a checkpoint (folder,
    /// safetensors, `.bin`, shard index), whose strided expert down weights are re-laid out expert by expert
    /// unless `expertDown` says `.asStored` (packs already store experts as blocks).
    /// - Throws: the readers' and recognizer's errors.
    public static func open(path: String, expertDown: ExpertDownLayout = .expertMajor) throws -> ModelWeights {
        if PackFile.isPack(path: path) { return try ModelWeights(pack: PackFile(path: path)) }
        return try ModelWeights(checkpoint: Checkpoint(path: path), expertDown: expertDown)
    }
}

extension PackFile {
    /// True when `path` is a regular file starting with the `.bfpk` magic.
    public static func isPack(path: String) -> Bool {
        guard let f = try? MappedFile(path: path), f.size >= 8 else { return false }
        return f.withBytes { Array($0[0..<8]) } == PackHeader.magic
    }
}
