import BFFNCheckpoint
import BFFNCore
import BFFNKernels

#if canImport(Glibc)
import Glibc
#endif

/// The weights of one decoder layer, as views into the checkpoint (no float32 copy).
public struct LayerWeights: @unchecked Sendable {
    public var inputNorm: WeightMatrix
    public var postNorm: WeightMatrix
    // MLA
    public var qA: WeightMatrix?, qANorm: WeightMatrix?, qB: WeightMatrix?
    public var kvA: WeightMatrix?, kvANorm: WeightMatrix?, kvB: WeightMatrix?
    // GQA
    public var q: WeightMatrix?, k: WeightMatrix?, v: WeightMatrix?
    public var o: WeightMatrix
    // BlockFFN
    public var router: WeightMatrix?
    public var routerNorm: WeightMatrix?
    /// Per expert: up rows [de, H].
    public var expertUp: [WeightMatrix] = []
    /// Per router index (slot): the expert's index in the source checkpoint. Packs may store experts permuted
    /// (hot first); the FFN still accumulates experts in source order so logits do not change. Empty: identity.
    public var expertSourceIndex: [Int] = []
    /// Per expert: the down weights as [H, de] rows (row j = the de weights output j takes from the expert;
    /// a column band of block_linear's [H, E·de], a 3-D slab, or a pack's block).
    public var expertDown: [WeightMatrix] = []
    // Dense FFN
    public var gate: WeightMatrix?, up: WeightMatrix?, down: WeightMatrix?
}

/// Every weight the engine reads, resolved from a checkpoint for any recognised layout.
public final class ModelWeights: @unchecked Sendable {
    public let architecture: ModelArchitecture
    public let config: ModelConfig
    public let embedding: WeightMatrix
    public let finalNorm: WeightMatrix
    public let head: WeightMatrix
    public let layers: [LayerWeights]
    /// Bytes of one expert's weights (its up and down parts) in one layer.
    public let bytesPerExpert: Int
    /// Bytes read per token outside the experts: attention, router, norms and the LM head (one embedding row).
    public let nonExpertBytesPerToken: Int
    /// Multiply-adds per token outside the experts (one per weight read, the embedding row excluded).
    public let nonExpertParametersPerToken: Int
    /// Multiply-adds of one expert per token (its up and down weights).
    public let parametersPerExpert: Int
    /// Bytes of every weight the forward pass uses, each counted once (a tied head shares the embedding), in
    /// the dtype it is read in: the model's size, against which resident memory is judged.
    public let weightBytes: Int
    /// Objects that keep the weights' memory alive (file mappings, cached storages, owned copies).
    public var keepAlive: [AnyObject] = []

    /// Every distinct memory region the weights live in (file mappings, gathered copies), for measuring the
    /// read bandwidth of the very memory decoding streams.
    public var weightRegions: [UnsafeRawBufferPointer] {
        var seen = Set<UnsafeRawPointer>()
        return keepAlive.compactMap { o in
            let region = (o as? LoadedBytes)?.bytes ?? (o as? MappedFile)?.bytes
            guard let r = region, let base = r.baseAddress, seen.insert(base).inserted else { return nil }
            return r
        }
    }

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
    public convenience init(checkpoint: Checkpoint, expertDown: ExpertDownLayout = .asStored) throws {
        let rec = try checkpoint.recognize()
        let a = rec.architecture
        let bmt = a.ffnLayout == .bmt
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
        let pre = bmt ? "encoder.layers." : "model.layers."
        try self.init(architecture: a, config: checkpoint.config, trainingNames: bmt, matrix: matrix) { l in
            let p = "\(pre)\(l)."
            var routerName = p + "mlp.router_proj.weight", normName = p + "mlp.router_norm.weight"
            if bmt { routerName = p + "ffn.ffn.moe_router.w_gate"; normName = p + "ffn.ffn.router_norm.weight" }
            var router = try matrix(routerName, rows: nil, cols: nil)
            if bmt && router.rows == H && router.cols == E && E != H {
                // The training-side router may be stored [H, E]: transpose once (it is small).
                let t = UnsafeMutableRawBufferPointer.allocate(byteCount: E * H * 4, alignment: 64)
                let f = t.baseAddress!.assumingMemoryBound(to: Float.self)
                for e in 0..<E { for h in 0..<H { f[e * H + h] = router.element(h, e) } }
                keep.append(LoadedBytes(owned: t, count: E * H * 4))
                router = WeightMatrix(base: UnsafeRawPointer(t.baseAddress!), type: .f32, rows: E, cols: H)
            }
            let norm = a.routerNorm == .rms ? try matrix(normName, rows: nil, cols: nil) : nil
            var ups: [WeightMatrix] = [], downs: [WeightMatrix] = []
            switch a.ffnLayout {
            case .blockLinear, .bmt:
                let up = try matrix(p + (bmt ? "ffn.ffn.moe_experts.moe_w_in" : "mlp.up_proj"), rows: E * de, cols: H)
                let downName = p + (bmt ? "ffn.ffn.moe_experts.moe_w_out" : "mlp.down_proj")
                ups = (0..<E).map { up.rows($0 * de, de) }
                if expertDown == .expertMajor, let t = checkpoint.tensor(named: downName) {
                    let stored = try checkpoint.bytes(of: t)
                    let down = try ModelWeights.view(stored.bytes, dtype: t.dtype, shape: t.shape, rows: H, cols: E * de, name: downName)
                    let (copy, blocks) = ModelWeights.expertMajorCopy(of: down, experts: E)
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
                let up = try matrix(p + (a.ffnLayout == .block ? "mlp.up_proj" : "mlp.experts.up_proj.weight"), rows: E * de, cols: H)
                let down = try matrix(p + (a.ffnLayout == .block ? "mlp.down_proj" : "mlp.experts.down_proj.weight"), rows: E * H, cols: de)
                ups = (0..<E).map { up.rows($0 * de, de) }
                downs = (0..<E).map { down.rows($0 * H, H) }
            case .megablocks:
                // megablocks stores Wdownᵀ ([E·de, H]); it is re-laid out once, in its own dtype, into [E][H][de]
                // so every layout is computed in the same order (and a pack of it gives the same bits).
                let up = try matrix(p + "mlp.mlp.up_proj", rows: E * de, cols: H)
                let downT = try matrix(p + "mlp.mlp.down_proj", rows: E * de, cols: H)
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
        keepAlive = keep
    }

    /// The weights of one layer's BlockFFN router and experts, as a source supplies them.
    public struct ExpertWeights {
        public var router: WeightMatrix
        /// The rms router-norm weight as a [1, E] vector, when the router norm is rms.
        public var routerNorm: WeightMatrix?
        /// Per expert (in router order): up rows [de, H] and the down weights.
        public var up: [WeightMatrix]
        /// Per expert: down weights as [H, de] rows.
        public var down: [WeightMatrix]
        /// Per router index: the source expert (empty: identity).
        public var sourceIndex: [Int]
        public init(router: WeightMatrix, routerNorm: WeightMatrix?, up: [WeightMatrix], down: [WeightMatrix], sourceIndex: [Int] = []) {
            self.router = router
            self.routerNorm = routerNorm
            self.up = up
            self.down = down
            self.sourceIndex = sourceIndex
        }
    }

    /// Copies a strided [H, E·de] down matrix into E contiguous [H, de] blocks (64-byte aligned, in the stored
    /// type), splitting the rows over the worker pool. Returns the owning buffer and one matrix per expert.
    public static func expertMajorCopy(of down: WeightMatrix, experts E: Int,
                                       threads: Int = WorkerPool.onlineCPUs) -> (LoadedBytes, [WeightMatrix]) {
        let H = down.rows, de = down.cols / E, size = down.type.size
        let runBytes = de * size, blockBytes = (H * runBytes + 63) / 64 * 64
        // 2 MiB-aligned and advised for huge pages: a 1 GB copy then takes a few hundred page faults, not 250 000.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, E * blockBytes), alignment: 2 << 20)
        _ = madvise(buffer.baseAddress!, buffer.count, MADV_HUGEPAGE)
        struct Copy: @unchecked Sendable { let source: WeightMatrix; let target: UnsafeMutableRawPointer }
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

    /// Builds the weights from any source: `matrix(name, rows, cols)` returns a dense tensor by its published
    /// (HF, or with `trainingNames` the bmt) name, and `experts(layer)` the layer's router and experts.
    /// Objects that keep the memory alive go in `keepAlive` (set by the caller after init).
    public init(architecture a: ModelArchitecture, config: ModelConfig, trainingNames bmt: Bool,
                matrix: (String, Int?, Int?) throws -> WeightMatrix, experts: (Int) throws -> ExpertWeights) throws {
        architecture = a
        self.config = config
        func m(_ name: String) throws -> WeightMatrix { try matrix(name, nil, nil) }
        func vector(_ name: String) throws -> WeightMatrix {
            let x = try m(name)
            return WeightMatrix(base: x.base, type: x.type, rows: 1, cols: x.rows * x.cols)
        }
        let pre = bmt ? "encoder.layers." : "model.layers."
        embedding = try m(bmt ? "input_embedding.weight" : "model.embed_tokens.weight")
        finalNorm = try vector(bmt ? "encoder.output_layernorm.weight" : "model.norm.weight")
        head = a.tiedEmbeddings ? embedding : try m("lm_head.weight")
        var layers: [LayerWeights] = []
        for l in 0..<a.numLayers {
            let p = "\(pre)\(l)."
            let att = bmt ? "self_att.self_attention." : "self_attn."
            var lw = LayerWeights(inputNorm: try vector(p + (bmt ? "self_att.layernorm_before_attention.weight" : "input_layernorm.weight")),
                                  postNorm: try vector(p + (bmt ? "ffn.layernorm_before_ffn.weight" : "post_attention_layernorm.weight")),
                                  o: try m(p + att + (bmt && a.attention == .gqa ? "attention_out.weight" : "o_proj.weight")))
            switch a.attention {
            case .mla:
                lw.qA = try m(p + att + (bmt ? "q_down_proj.weight" : "q_a_proj.weight"))
                lw.qANorm = try vector(p + att + (bmt ? "q_down_layernorm.weight" : "q_a_layernorm.weight"))
                lw.qB = try m(p + att + (bmt ? "q_up_proj.weight" : "q_b_proj.weight"))
                lw.kvA = try m(p + att + (bmt ? "kv_down_proj.weight" : "kv_a_proj_with_mqa.weight"))
                lw.kvANorm = try vector(p + att + (bmt ? "kv_down_layernorm.weight" : "kv_a_layernorm.weight"))
                lw.kvB = try m(p + att + (bmt ? "kv_up_proj.weight" : "kv_b_proj.weight"))
            case .gqa:
                lw.q = try m(p + att + (bmt ? "project_q.weight" : "q_proj.weight"))
                lw.k = try m(p + att + (bmt ? "project_k.weight" : "k_proj.weight"))
                lw.v = try m(p + att + (bmt ? "project_v.weight" : "v_proj.weight"))
            }
            if a.ffnLayout == .vanilla {
                lw.gate = try m(p + "mlp.gate_proj.weight")
                lw.up = try m(p + "mlp.up_proj.weight")
                lw.down = try m(p + "mlp.down_proj.weight")
            } else {
                let x = try experts(l)
                lw.router = x.router
                lw.routerNorm = x.routerNorm
                lw.expertUp = x.up
                lw.expertDown = x.down
                lw.expertSourceIndex = x.sourceIndex
            }
            layers.append(lw)
        }
        self.layers = layers
        bytesPerExpert = (layers.first?.expertUp.first?.byteCount ?? 0) + (layers.first?.expertDown.first?.byteCount ?? 0)
        parametersPerExpert = 2 * a.expertSize * a.hiddenSize
        var layerBytes = 0, expertBytes = 0
        var otherParameters = head.rows * head.cols + finalNorm.cols
        for lw in layers {
            let mats = [lw.inputNorm, lw.postNorm, lw.o] + [lw.qA, lw.qANorm, lw.qB, lw.kvA, lw.kvANorm, lw.kvB, lw.q, lw.k, lw.v,
                                                            lw.router, lw.routerNorm, lw.gate, lw.up, lw.down].compactMap { $0 }
            layerBytes += mats.reduce(0) { $0 + $1.byteCount }
            otherParameters += mats.reduce(0) { $0 + $1.rows * $1.cols }
            expertBytes += (lw.expertUp + lw.expertDown).reduce(0) { $0 + $1.byteCount }
        }
        nonExpertBytesPerToken = head.byteCount + finalNorm.byteCount + embedding.type.rowBytes(cols: embedding.cols) + layerBytes
        nonExpertParametersPerToken = otherParameters
        weightBytes = embedding.byteCount + (a.tiedEmbeddings ? 0 : head.byteCount) + finalNorm.byteCount + layerBytes + expertBytes
    }
}

extension ModelWeights {
    /// Per-layer router scores (T rows of E, stored slot order as the engine returns them) with experts put back
    /// in source order, for packs that store experts permuted.
    public func sourceOrdered(_ scores: [[Float]]) -> [[Float]] {
        let E = architecture.numExperts
        return scores.enumerated().map { l, s in
            let order = layers[l].expertSourceIndex
            guard !order.isEmpty, E > 0 else { return s }
            var out = s
            for t in 0..<(s.count / E) { for slot in 0..<E { out[t * E + order[slot]] = s[t * E + slot] } }
            return out
        }
    }
}
