import BFFNCheckpoint
import BFFNCore
import BFFNKernels

extension ModelWeights {
    /// How experts whose down weights the source stores strided are held: block_linear's `down_proj` and bmt's
    /// `moe_w_out` are [H, E·de], so one expert's down weights are H runs of de elements, E·de apart.
    public enum ExpertDownLayout: Sendable {
        /// Views of the stored tensor (nothing copied; the one-token sparse down projection then reads 128-256
        /// byte runs scattered over the whole matrix, which costs about twice its bytes' streaming time).
        case asStored
        /// Re-laid out once at load, in the stored dtype, into one contiguous [H, de] block per expert (what a
        /// pack stores), and the stored tensor's resident pages released, so resident memory stays the
        /// weights' size. Values and results are the same bits.
        case expertMajor
    }

    /// Resolves the weights of `checkpoint` (any layout the recognizer accepts).
    /// - Parameter expertDown: how strided expert down weights are held (views by default; `open(path:)`, which
    ///   the engine's commands use, re-lays them out).
    /// - Throws: recognition errors, and `.unsupported` for weight dtypes the kernels do not read (they read
    ///   F32, F16 and BF16).
    public convenience init(checkpoint: Checkpoint, expertDown: ExpertDownLayout = .asStored,
                            threads: Int = WorkerPool.usableCPUs) throws {
        let rec = try checkpoint.recognize()
        let a = rec.architecture
        let names = TensorNames.of(a.ffnLayout)
        var keep: [AnyObject] = []
        func matrix(_ name: String, rows: Int?, cols: Int?) throws -> WeightMatrix {
            guard let t = checkpoint.tensor(named: name) else {
                throw BFFNError(.missingTensor, "tensor is missing", field: name)
            }
            let b = try checkpoint.bytes(of: t)
            keep.append(b)
            return try ModelWeights.view(b.bytes, dtype: t.dtype, shape: t.shape, rows: rows, cols: cols, name: name)
        }
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        try self.init(architecture: a, config: checkpoint.config, names: names, matrix: matrix) { l in
            let p = names.layer(l)
            var router = try matrix(p + names.router, rows: nil, cols: nil)
            if a.ffnLayout == .bmt && router.rows == H && router.cols == E && E != H {
                // The training-side router may be stored [H, E]: transpose once (it is small).
                let t = UnsafeMutableRawBufferPointer.allocate(byteCount: E * H * 4, alignment: 64)
                let f = t.baseAddress!.assumingMemoryBound(to: Float.self)
                for e in 0..<E { for h in 0..<H { f[e * H + h] = router.element(h, e) } }
                keep.append(LoadedBytes(owned: t, count: E * H * 4))
                router = WeightMatrix(base: UnsafeRawPointer(t.baseAddress!), type: .f32, rows: E, cols: H)
            }
            let norm = a.routerNorm == .rms ? try matrix(p + names.routerNorm, rows: nil, cols: nil) : nil
            guard let tensors = names.experts(a.ffnLayout, layer: l) else {
                throw BFFNError(.unsupported, "no expert tensors are named for the \(a.ffnLayout.rawValue) layout", field: p)
            }
            var ups: [WeightMatrix] = [], downs: [WeightMatrix] = []
            switch a.ffnLayout {
            case .blockLinear, .bmt:
                let up = try matrix(tensors.up, rows: E * de, cols: H)
                let downName = tensors.down
                ups = (0..<E).map { up.rows($0 * de, de) }
                if expertDown == .expertMajor, let t = checkpoint.tensor(named: downName) {
                    let stored = try checkpoint.bytes(of: t)
                    let down = try ModelWeights.view(stored.bytes, dtype: t.dtype, shape: t.shape, rows: H, cols: E * de, name: downName)
                    let (copy, blocks) = ModelWeights.expertMajorCopy(of: down, experts: E, threads: threads)
                    keep.append(copy)
                    downs = blocks
                    // The stored tensor was read once: its file pages need not stay resident in this process, and
                    // it stays out of `keepAlive` so `weightRegions` does not list it (other tensors' views keep
                    // the file mapping alive).
                    checkpoint.releaseTensorPages(down.base, count: down.byteCount)
                    withExtendedLifetime(stored) {}
                } else {
                    let down = try matrix(downName, rows: H, cols: E * de)
                    downs = (0..<E).map { down.columns($0 * de, de) }
                }
            case .block, .fastmoe:
                let up = try matrix(tensors.up, rows: E * de, cols: H)
                let down = try matrix(tensors.down, rows: E * H, cols: de)
                ups = (0..<E).map { up.rows($0 * de, de) }
                downs = (0..<E).map { down.rows($0 * H, H) }
            case .megablocks:
                // megablocks stores Wdownᵀ ([E·de, H]); it is re-laid out once, in its own dtype, into [E][H][de]
                // so every layout is computed in the same order (and a pack of it gives the same bits).
                let up = try matrix(tensors.up, rows: E * de, cols: H)
                let downT = try matrix(tensors.down, rows: E * de, cols: H)
                let size = downT.type.size
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: E * H * de * size, alignment: 64)
                for e in 0..<E {
                    for j in 0..<H {
                        for i in 0..<de {
                            let src = downT.row(e * de + i) + j * size
                            (buffer.baseAddress! + ((e * H + j) * de + i) * size).copyMemory(from: src, byteCount: size)
                        }
                    }
                }
                keep.append(LoadedBytes(owned: buffer, count: buffer.count))
                let down = WeightMatrix(base: UnsafeRawPointer(buffer.baseAddress!), type: downT.type, rows: E * H, cols: de)
                ups = (0..<E).map { up.rows($0 * de, de) }
                downs = (0..<E).map { down.rows($0 * H, H) }
            case .vanilla:
                break
            }
            return ExpertWeights(router: router, routerNorm: norm.map { WeightMatrix(base: $0.base, type: $0.type, rows: 1, cols: $0.rows * $0.cols) },
                                 up: ups, down: downs)
        }
        // The checkpoint too: repacking for the int8 / bf16 products lets go of its file pages through it.
        keepAlive = keep + [checkpoint]
    }



    /// Copies a strided [H, E·de] down matrix into E contiguous [H, de] blocks (64-byte aligned, in the stored
    /// type), splitting the rows over the worker pool. Returns the owning buffer and one matrix per expert.
    public static func expertMajorCopy(of down: WeightMatrix, experts E: Int,
                                       threads: Int = WorkerPool.usableCPUs) -> (LoadedBytes, [WeightMatrix]) {
        let H = down.rows, de = down.cols / E, size = down.type.size
        let runBytes = de * size, blockBytes = (H * runBytes + 63) / 64 * 64
        // 2 MiB-aligned and advised for huge pages: a 1 GB copy then takes a few hundred page faults, not 250 000.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, E * blockBytes), alignment: 2 << 20)
        MemoryAdvice.hugePages(buffer.baseAddress!, byteCount: buffer.count)
        struct Copy { let source: WeightMatrix; let target: UnsafeMutableRawPointer }
        let job = Copy(source: down, target: buffer.baseAddress!)
        let parts = H * E * runBytes < 1 << 20 ? 1 : 2 * threads
        WorkerPool.shared.run(parts: parts, threads: threads) { p in
            for j in (H * p / parts)..<(H * (p + 1) / parts) {
                let row = job.source.row(j)
                for e in 0..<E {
                    (job.target + e * blockBytes + j * runBytes).copyMemory(from: row + e * runBytes, byteCount: runBytes)
                }
            }
        }
        let blocks = (0..<E).map {
            WeightMatrix(base: UnsafeRawPointer(buffer.baseAddress! + $0 * blockBytes), type: down.type, rows: H, cols: de)
        }
        return (LoadedBytes(owned: buffer, count: buffer.count), blocks)
    }

    /// A typed view of a tensor's bytes as a [rows, cols] matrix (1-D tensors are one row).
    /// - Throws: `.unsupported` for dtypes the kernels do not read.
    public static func view(_ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], rows: Int?, cols: Int?, name: String) throws -> WeightMatrix {
        guard let type = StorageType(dtype) else {
            throw BFFNError(.unsupported, "the engine reads F32, F16 and BF16 weights, not \(dtype.rawValue)", field: name)
        }
        let r = rows ?? (shape.count >= 2 ? shape[0] : 1)
        let c = cols ?? (shape.count >= 2 ? shape.dropFirst().reduce(1, *) : (shape.first ?? 1))
        return WeightMatrix(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!, type: type, rows: r, cols: c)
    }


}
