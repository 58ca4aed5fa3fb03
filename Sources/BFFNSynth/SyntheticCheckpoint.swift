import BFFNCore
import BFFNModel
import BFFNSafetensors
import BFFNTorchZip

/// Options for `SyntheticCheckpoint.write`.
public struct SynthOptions: Sendable {
    /// The weight file: safetensors, or `bin` (torch.save zip).
    public enum Format: String, Sendable, CaseIterable { case safetensors, bin }
    public var preset: SynthPreset
    public var format: Format = .safetensors
    /// Storage dtype: .bf16, .f16 or .f32.
    public var dtype: DType = .bf16
    /// Requested token-level sparsity (fraction of experts inactive per token).
    public var tls: Double = 0.8
    /// Requested chunk-level sparsity over 8-token chunks.
    public var cls8: Double = 0.7
    public var seed: UInt64 = 1
    /// Number of vocabulary topics of the workload.
    public var topics = 64

    public init(preset: SynthPreset) { self.preset = preset }

    /// Checks the requested sparsities are reachable: 0 < cls8 ≤ tls < 1 and cls8 ≥ tls^8.
    public func validate() throws {
        guard tls > 0 && tls < 1 else { throw BFFNError(.usage, "--tls must be between 0 and 1 (exclusive)") }
        guard cls8 > 0 && cls8 <= tls else { throw BFFNError(.usage, "--cls8 must be positive and at most --tls (a chunk's union is never smaller than one token's set)") }
        let p = TopicWorkload.switchProbability(tls: tls, cls8: cls8)
        guard p >= 0 && p <= 1 else { throw BFFNError(.usage, "--cls8 \(cls8) is below what any workload reaches with --tls \(tls) (about tls^8 = \(tls * tls * tls * tls * tls * tls * tls * tls))") }
        guard [.bf16, .f16, .f32].contains(dtype) else { throw BFFNError(.usage, "--dtype must be bf16, f16 or f32") }
    }
}

/// Writes synthetic BlockFFN checkpoints with the published shapes, names and block_linear layout.
///
/// Weights are seeded random numbers with one structure: token embeddings point along one of `topics`
/// orthonormal directions (token t along direction t mod topics) plus a constant component; each layer's
/// router gives every topic its own random set of round((1 − tls)·E) experts by summing the directions of the
/// topics that use an expert and subtracting the constant component (a threshold halfway between "in the set"
/// and "not"). Output projections are scaled down so the residual stream stays close to the embedding, so
/// routing in every layer follows the token's topic. On `TopicWorkload` sequences this gives the requested
/// token-level and 8-token chunk-level sparsity; `measure` reports what the engine actually sees.
public enum SyntheticCheckpoint {
    /// One tensor: name, shape, and a generator that fills rows `start ..< start + count` (row-major floats).
    struct Spec {
        var name: String
        var shape: [Int]
        var fill: (Int, Int, UnsafeMutablePointer<Float>) -> Void
        var rows: Int { shape.count >= 2 ? shape[0] : 1 }
        var cols: Int { shape.count >= 2 ? shape.dropFirst().reduce(1, *) : shape[0] }
    }

    /// The config.json the checkpoint carries.
    public static func config(_ o: SynthOptions) -> JSONValue {
        let p = o.preset
        var m: [(String, JSONValue)] = [
            ("architectures", ["MiniCPMForCausalLM"]), ("model_type", "minicpm"),
            ("hidden_size", .integer(p.hiddenSize)), ("num_hidden_layers", .integer(p.layers)),
            ("num_attention_heads", .integer(p.heads)), ("num_key_value_heads", .integer(p.kvHeads ?? p.heads)),
            ("vocab_size", .integer(p.vocabSize)), ("num_experts", .integer(p.experts)), ("expert_size", .integer(p.expertSize)),
            ("intermediate_size", .integer(p.experts * p.expertSize)),
            ("ffn_type", "block_linear"), ("block_implementation", "torch"), ("norm_after_router", "rms"),
            ("hidden_act", "silu"), ("router_act", "relu"), ("rms_norm_eps", 1e-5), ("rope_theta", 10000.0),
            ("scale_emb", 12), ("dim_model_base", .integer(p.dimModelBase)), ("scale_depth", 1.4),
            ("tie_word_embeddings", false), ("max_position_embeddings", 4096), ("bos_token_id", 1), ("eos_token_id", 2),
            ("torch_dtype", .string(o.dtype == .bf16 ? "bfloat16" : o.dtype == .f16 ? "float16" : "float32")),
            ("attention_type", .string(p.isMLA ? "mla" : "vanilla")),
        ]
        if p.isMLA {
            m += [("q_lora_rank", .integer(p.qLoraRank)), ("kv_lora_rank", .integer(p.kvLoraRank)),
                  ("qk_nope_head_dim", .integer(p.nopeDim)), ("qk_rope_head_dim", .integer(p.ropeDim)),
                  ("v_head_dim", .integer(p.hiddenSize / p.heads))]
        }
        return .object(m)
    }

    /// Topic directions: `count` orthonormal vectors of width h with element 0 always zero.
    static func topicDirections(_ count: Int, _ h: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(seed: seed ^ 0x70_91C5)
        var out: [[Double]] = []
        for _ in 0..<count {
            var v = (0..<h).map { i in i == 0 ? 0.0 : Double(rng.gaussian()) }
            for u in out {
                let d = zip(v, u).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<h { v[i] -= d * u[i] }
            }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            out.append(v.map { $0 / n })
        }
        return out.map { $0.map(Float.init) }
    }

    static func specs(_ o: SynthOptions) -> [Spec] {
        let p = o.preset
        let H = p.hiddenSize, E = p.experts, de = p.expertSize, V = p.vocabSize, K = min(o.topics, H - 1)
        let topics = topicDirections(K, H, seed: o.seed)
        let perTopic = max(1, Int((Double(E) * (1 - o.tls)).rounded()))
        var specs: [Spec] = []
        var tensorIndex: UInt64 = 0
        let n = TensorNames.published
        func random(_ name: String, _ shape: [Int], std: Float, mean: Float = 0) {
            tensorIndex += 1
            let seed = o.seed &* 0x1000_0000 &+ tensorIndex
            let cols = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : shape[0]
            specs.append(Spec(name: name, shape: shape) { start, count, out in
                var rng = SplitMix64(seed: seed &+ UInt64(start) &* 0x9E37)
                for i in 0..<(count * cols) { out[i] = mean + std * rng.gaussian() }
            })
        }
        specs.append(Spec(name: n.embedding, shape: [V, H]) { start, count, out in
            for r in 0..<count {
                let t = start + r
                var rng = SplitMix64(seed: o.seed ^ (UInt64(t) &* 0xE1B))
                let dir = topics[t % K]
                for j in 0..<H { out[r * H + j] = dir[j] + (j == 0 ? 1 : 0) + 0.3 / Float(H).squareRoot() * rng.gaussian() }
            }
        })
        for l in 0..<p.layers {
            let pre = n.layer(l)
            random(pre + n.inputNorm, [H], std: 0.05, mean: 1)
            if p.isMLA {
                let nh = p.heads, vd = H / nh
                random(pre + n.qA, [p.qLoraRank, H], std: 1 / Float(H).squareRoot())
                random(pre + n.qANorm, [p.qLoraRank], std: 0.05, mean: 1)
                random(pre + n.qB, [nh * (p.nopeDim + p.ropeDim), p.qLoraRank], std: 1 / Float(p.qLoraRank).squareRoot())
                random(pre + n.kvA, [p.kvLoraRank + p.ropeDim, H], std: 1 / Float(H).squareRoot())
                random(pre + n.kvANorm, [p.kvLoraRank], std: 0.05, mean: 1)
                random(pre + n.kvB, [nh * (p.nopeDim + vd), p.kvLoraRank], std: 1 / Float(p.kvLoraRank).squareRoot())
                random(pre + n.mlaOutput, [H, nh * vd], std: 0.03 / Float(H).squareRoot())
            } else {
                let hd = H / p.heads, nkv = p.kvHeads!
                random(pre + n.q, [p.heads * hd, H], std: 1 / Float(H).squareRoot())
                random(pre + n.k, [nkv * hd, H], std: 1 / Float(H).squareRoot())
                random(pre + n.v, [nkv * hd, H], std: 1 / Float(H).squareRoot())
                random(pre + n.gqaOutput, [H, p.heads * hd], std: 0.03 / Float(H).squareRoot())
            }
            random(pre + n.postNorm, [H], std: 0.05, mean: 1)
            // Each topic's expert set in this layer.
            var rng = SplitMix64(seed: o.seed ^ (UInt64(l + 1) &* 0xA5A5_1234))
            var users = [[Int]](repeating: [], count: E)
            for k in 0..<K {
                var pool = Array(0..<E)
                for i in 0..<perTopic {
                    let j = i + rng.below(E - i)
                    pool.swapAt(i, j)
                    users[pool[i]].append(k)
                }
            }
            specs.append(Spec(name: pre + n.router, shape: [E, H]) { start, count, out in
                for r in 0..<count {
                    let e = start + r
                    for j in 0..<H { out[r * H + j] = 0 }
                    for k in users[e] { for j in 0..<H { out[r * H + j] += topics[k][j] } }
                    out[r * H] = -0.5
                }
            })
            random(pre + n.routerNorm, [E], std: 0.05, mean: 1)
            let experts = n.experts(.blockLinear, layer: l)!
            random(experts.up, [E * de, H], std: 1 / Float(H).squareRoot())
            random(experts.down, [H, E * de], std: 0.03 / Float(de).squareRoot())
        }
        random(n.finalNorm, [H], std: 0.05, mean: 1)
        random(n.head, [V, H], std: 1 / Float(H).squareRoot())
        return specs
    }

    /// The workload these weights are built for.
    public static func workload(_ o: SynthOptions) -> TopicWorkload {
        TopicWorkload(topics: min(o.topics, o.preset.hiddenSize - 1),
                          switchProbability: TopicWorkload.switchProbability(tls: o.tls, cls8: o.cls8),
                          vocabSize: o.preset.vocabSize, seed: o.seed)
    }

    /// Writes config.json and the weights into `folder` (created if needed).
    /// - Parameter progress: called with (bytes written, total bytes) after each tensor.
    /// - Returns: the weight file path.
    public static func write(_ o: SynthOptions, to folder: String, overwrite: Bool,
                             progress: (UInt64, UInt64) -> Void = { _, _ in }) throws -> String {
        try o.validate()
        mkdir(folder, 0o755)
        let specs = specs(o)
        let decls = specs.map { (name: $0.name, dtype: o.dtype, shape: $0.shape) }
        let total = decls.reduce(UInt64(0)) { $0 + (o.dtype.byteCount(elements: Shape.elementCount($1.shape)!)!) }
        let path = folder + (o.format == .bin ? "/pytorch_model.bin" : "/model.safetensors")
        if !overwrite {
            for existing in [path, folder + "/config.json"] where access(existing, F_OK) == 0 {
                throw BFFNError(.outputExists, "output exists; pass --force to overwrite it", file: existing)
            }
        }
        let writeTensor: (((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Void
        let finish: () throws -> Void
        if o.format == .bin {
            let w = try TorchCheckpointWriter(path: path, tensors: decls.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
                                              overwrite: overwrite)
            writeTensor = w.writeTensor
            finish = w.finish
        } else {
            let w = try SafetensorsStreamWriter(path: path, tensors: decls, metadata: [("format", "pt"), ("producer", "bffn synth")],
                                                overwrite: overwrite)
            writeTensor = w.writeTensor
            finish = w.finish
        }
        var done: UInt64 = 0
        let elementSize = o.dtype.bitWidth / 8
        for s in specs {
            let rowsPerPiece = max(1, (1 << 20) / max(s.cols, 1))
            let floats = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerPiece * s.cols)
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: rowsPerPiece * s.cols * elementSize, alignment: 64)
            defer { floats.deallocate(); bytes.deallocate() }
            try writeTensor { emit in
                var r = 0
                while r < s.rows {
                    let n = min(rowsPerPiece, s.rows - r)
                    s.fill(r, n, floats)
                    let count = n * s.cols
                    switch o.dtype {
                    case .f32: bytes.copyMemory(from: floats, byteCount: count * 4)
                    case .f16:
                        let d = bytes.assumingMemoryBound(to: Float16.self)
                        for i in 0..<count { d[i] = Float16(floats[i]) }
                    default:
                        let d = bytes.assumingMemoryBound(to: UInt16.self)
                        for i in 0..<count { d[i] = ScalarConversion.floatToBF16(floats[i]) }
                    }
                    try emit(UnsafeRawBufferPointer(start: bytes, count: count * elementSize))
                    r += n
                }
            }
            done += UInt64(s.rows * s.cols * elementSize)
            progress(done, total)
        }
        try finish()
        try writeFileAtomically(folder + "/config.json", Array(config(o).serialized(pretty: true).utf8 + [0x0A]), overwrite: true)
        return path
    }
}
