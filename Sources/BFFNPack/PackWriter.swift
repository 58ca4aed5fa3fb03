import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels

/// Options for `PackWriter.convert`.
public struct ConvertOptions: Sendable {
    /// Storage for weights; nil keeps each tensor's source dtype.
    public var quant: StorageType?
    /// Storage for the embedding and LM head; nil follows `quant`.
    public var embeddingQuant: StorageType?
    /// Per-class overrides (`attention`, `experts`, `dense_ffn`, `embeddings`, `head`), e.g. attention → q8.
    public var keep: [String: StorageType] = [:]
    /// Alignment of sections and expert blocks in bytes (a power of two, 64 ... 1 MiB).
    public var alignment = 4096
    /// Files carried verbatim (tokenizer files, generation_config.json), stored under their base names.
    public var attachments: [String] = []
    /// Replace an existing output.
    public var overwrite = false
    /// Threads (the output does not depend on it).
    public var threads = 2
    /// Per layer, the source expert stored in each slot (nil: identity). The router's rows and the router-norm
    /// weights are stored in the same order, so logits do not change; `bffn pack` orders experts by use.
    public var expertOrder: [[Int]]?
    /// Expert slots per layer stored in the resident section (the first slots of each layer; the rest follow
    /// in the streamed section); nil: all (formats/bfpk.md, "Resident and streamed experts").
    public var residentExperts: Int?
    /// Recorded under `provenance.deployment` in the manifest (what `bffn pack` decided and why).
    public var deployment: JSONValue?
    /// Called with the path of the finished, still temporary pack before it is renamed into place; an error it
    /// throws is rethrown and leaves no output (`bffn pack` verifies here).
    public var checkBeforeCommit: (@Sendable (String) throws -> Void)?
    public init() {}
}

/// Quantization error of one tensor class: RMSE, max absolute error and SNR in dB over its elements.
public struct ErrorStats: Sendable {
    public var elements: UInt64 = 0
    var signal = 0.0, noise = 0.0
    public var maxAbs: Double = 0
    public var rmse: Double { elements > 0 ? (noise / Double(elements)).squareRoot() : 0 }
    /// 10·log10(signal energy / error energy); nil when the error is exactly zero (lossless).
    public var snrDB: Double? { noise > 0 ? 10 * log10(signal / noise) : nil }

    /// Adds another set of rows' statistics (merged in row order, so the totals do not depend on threads).
    mutating func merge(_ o: ErrorStats) {
        signal += o.signal
        noise += o.noise
        maxAbs = max(maxAbs, o.maxAbs)
        elements += o.elements
    }

    /// Adds the quantizer's sums for some rows.
    mutating func merge(_ o: WeightQuantizer.ErrorSums) {
        signal += o.signal
        noise += o.noise
        maxAbs = max(maxAbs, Double(o.maxAbs))
        elements += o.elements
    }

    var json: JSONValue {
        .object([("rmse", .double(rmse)), ("max_abs", .double(maxAbs)), ("snr_db", snrDB.map { .double($0) } ?? .null),
                 ("elements", .integer(elements))])
    }
}

/// What a conversion did.
public struct ConvertReport: Sendable {
    public var output: String
    public var sourceBytes: UInt64
    public var outputBytes: UInt64
    /// Per tensor class (embeddings, head, attention, dense_ffn, experts, router, norms): the storage and error.
    public var classes: [(name: String, dtype: String, stats: ErrorStats)]
}

/// What a pack of `weights` with `options` will hold, computed before writing: every dense tensor with its class
/// and storage, the expert order and block geometry, and the resulting byte sizes.
public struct PackLayout {
    /// Dense tensors under their published (HF) names, with their class and the storage they get.
    let dense: [(name: String, cls: String, m: WeightMatrix, shape: [Int], layer: Int?, storage: StorageType)]
    /// Per layer: the source expert stored in each slot.
    public let order: [[Int]]
    /// Storage of the expert up and down rows.
    public let upType: StorageType, downType: StorageType
    /// Data bytes of one expert, and its block size (data rounded up to the alignment).
    public let expertDataBytes: UInt64, blockBytes: UInt64
    /// Offset of the first expert block: the header and the dense section before it, in bytes.
    public private(set) var expertsOffset: UInt64 = 0
    /// Layers and experts per layer.
    public let layers: Int, experts: Int

    /// Plans the pack.
    /// - Throws: `.usage` for an expert order that is not a permutation; the quantizer's errors for a group size
    ///   that does not divide a row.
    public init(weights: ModelWeights, options: ConvertOptions) throws {
        let a = weights.architecture
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        var dense: [(name: String, cls: String, m: WeightMatrix, shape: [Int], layer: Int?)] = []
        func add(_ name: String, _ cls: String, _ m: WeightMatrix?, vector: Bool = false, layer: Int? = nil) {
            guard let m else { return }
            dense.append((name, cls, m, vector ? [m.rows * m.cols] : [m.rows, m.cols], layer))
        }
        add("model.embed_tokens.weight", "embeddings", weights.embedding)
        for (l, lw) in weights.layers.enumerated() {
            let p = "model.layers.\(l)."
            add(p + "input_layernorm.weight", "norms", lw.inputNorm, vector: true)
            add(p + "self_attn.q_a_proj.weight", "attention", lw.qA)
            add(p + "self_attn.q_a_layernorm.weight", "norms", lw.qANorm, vector: true)
            add(p + "self_attn.q_b_proj.weight", "attention", lw.qB)
            add(p + "self_attn.kv_a_proj_with_mqa.weight", "attention", lw.kvA)
            add(p + "self_attn.kv_a_layernorm.weight", "norms", lw.kvANorm, vector: true)
            add(p + "self_attn.kv_b_proj.weight", "attention", lw.kvB)
            add(p + "self_attn.q_proj.weight", "attention", lw.q)
            add(p + "self_attn.k_proj.weight", "attention", lw.k)
            add(p + "self_attn.v_proj.weight", "attention", lw.v)
            add(p + "self_attn.o_proj.weight", "attention", lw.o)
            add(p + "post_attention_layernorm.weight", "norms", lw.postNorm, vector: true)
            add(p + "mlp.gate_proj.weight", "dense_ffn", lw.gate)
            add(p + "mlp.up_proj.weight", "dense_ffn", lw.up)
            add(p + "mlp.down_proj.weight", "dense_ffn", lw.down)
            add(p + "mlp.router_proj.weight", "router", lw.router, layer: l)
            add(p + "mlp.router_norm.weight", "norms", lw.routerNorm, vector: true, layer: l)
        }
        add("model.norm.weight", "norms", weights.finalNorm, vector: true)
        if !a.tiedEmbeddings { add("lm_head.weight", "head", weights.head) }
        self.dense = try dense.map { d in
            (d.name, d.cls, d.m, d.shape, d.layer, try PackLayout.target(d.cls, d.m.type, cols: d.m.cols, tensor: d.name, options: options))
        }
        let order = options.expertOrder ?? (0..<a.numLayers).map { _ in Array(0..<E) }
        guard order.count == a.numLayers, order.allSatisfy({ $0.sorted() == Array(0..<E) }) else {
            throw BFFNError(.usage, "expert order must give a permutation of 0..<\(E) for each of \(a.numLayers) layers")
        }
        self.order = order
        layers = a.numLayers
        experts = E
        let expertSource = weights.layers.first?.expertUp.first?.type ?? .bf16
        upType = try PackLayout.target("experts", expertSource, cols: H, tensor: "experts (up rows of \(H))", options: options)
        downType = try PackLayout.target("experts", expertSource, cols: de, tensor: "experts (down rows of \(de))", options: options)
        expertDataBytes = UInt64(de * upType.rowBytes(cols: H) + H * downType.rowBytes(cols: de))
        let align = UInt64(options.alignment)
        blockBytes = (expertDataBytes + align - 1) / align * align
        var offset = (UInt64(PackHeader.length) + align - 1) / align * align
        for d in self.dense {
            offset = (offset + 63) / 64 * 64
            offset += UInt64(d.m.rows) * UInt64(d.storage.rowBytes(cols: d.m.cols))
        }
        expertsOffset = E > 0 ? (offset + align - 1) / align * align : offset
    }

    /// The storage of a tensor of class `cls` stored as `source` in the checkpoint: the router and norms keep
    /// it; other classes get their `keep` scheme, or the embedding or general one.
    /// - Throws: the quantizer's errors for a group size that does not divide `cols`.
    static func target(_ cls: String, _ source: StorageType, cols: Int, tensor: String, options: ConvertOptions) throws -> StorageType {
        let s: StorageType?
        switch cls {
        case "norms", "router": s = nil
        case "embeddings", "head": s = options.keep[cls] ?? options.embeddingQuant ?? options.quant
        default: s = options.keep[cls] ?? options.quant
        }
        guard let s else { return source }
        return try s.resolved(cols: cols, tensor: tensor)
    }

    /// Bytes of all expert blocks.
    public var expertBytes: UInt64 { UInt64(layers * experts) * blockBytes }
}

/// Converts any checkpoint bffn reads into a `.bfpk` file (formats/bfpk.md), streaming one tensor or expert
/// block at a time so memory stays bounded whatever the model size. Deterministic: the same source and options
/// give the same bytes. The output appears under its final name only when complete.
public enum PackWriter {
    /// Converts `source` to `output`.
    /// - Throws: reader errors; `.unsupported` for a storage type other than f32, f16, bf16; `.usage` for a bad
    ///   alignment; `.outputExists` without `overwrite`; whatever `checkBeforeCommit` throws.
    public static func convert(source: String, to output: String, options: ConvertOptions,
                               progress: (UInt64, UInt64) -> Void = { _, _ in }) throws -> ConvertReport {
        let align = options.alignment
        guard align >= 64, align <= 1 << 20, align & (align - 1) == 0 else {
            throw BFFNError(.usage, "--align must be a power of two from 64 to 1048576, not \(align)")
        }
        for k in options.keep.keys where !["attention", "experts", "dense_ffn", "embeddings", "head"].contains(k) {
            throw BFFNError(.usage, "--keep names unknown class '\(k)'; use attention, experts, dense_ffn, embeddings or head")
        }
        // Stored .bin entries are checked against their zip CRC-32s in the same pass that checksums the source.
        let checkpoint = try Checkpoint(path: source, deferStorageChecksums: true)
        let weights = try ModelWeights(checkpoint: checkpoint)
        let layout = try PackLayout(weights: weights, options: options)
        let a = weights.architecture
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        let dense = layout.dense, order = layout.order, upType = layout.upType, downType = layout.downType
        let expertData = layout.expertDataBytes, blockBytes = layout.blockBytes
        let resident = options.residentExperts ?? E
        guard resident >= 0 && resident <= E else {
            throw BFFNError(.usage, "resident experts must be 0...\(E), not \(resident)", field: "resident_experts")
        }
        let out = try AtomicFileWriter(path: output, overwrite: options.overwrite)
        let sourceChecksums = SourceChecksums(paths: checkpoint.filePaths, checks: checkpoint.deferredChecksums, threads: options.threads)
        defer { sourceChecksums.cancel() }
        try out.write([UInt8](repeating: 0, count: PackHeader.length))
        try out.pad(toMultipleOf: UInt64(align))
        var stats: [String: ErrorStats] = [:]
        var classType: [String: String] = [:]
        var tensorEntries: [JSONValue] = []
        let total = dense.reduce(UInt64(0)) { $0 + UInt64($1.m.rows * $1.m.cols) } + UInt64(a.numLayers * E) * expertData
        var done: UInt64 = 0
        for d in dense {
            try out.pad(toMultipleOf: 64)
            let t = d.storage
            classType[d.cls] = t.manifestName
            let offset = out.bytesWritten
            var crc: UInt32 = 0
            var st = stats[d.cls] ?? ErrorStats()
            if let l = d.layer, order[l] != Array(0..<E), d.m.rows == 1 {
                // Router-norm weights in slot order (a small vector).
                let (bytes, decoded) = WeightQuantizer.encode(order[l].map { d.m.element(0, $0) }, as: t)
                var sums = WeightQuantizer.ErrorSums()
                for (s, x) in order[l].enumerated() {
                    let original = d.m.element(0, x), e = Double(decoded[s]) - Double(original)
                    sums.signal += Double(original) * Double(original)
                    sums.noise += e * e
                    sums.maxAbs = max(sums.maxAbs, Float(abs(e)))
                }
                sums.elements = UInt64(order[l].count)
                st.merge(sums)
                crc = bytes.withUnsafeBytes { CRC32.checksum($0, initial: crc) }
                try out.write(bytes)
            } else {
                // Router rows follow the expert order; everything else is stored in source order.
                let rowOrder = d.layer.map { order[$0] }.flatMap { $0 == Array(0..<E) ? nil : $0 }
                let first = try out.reserve(UInt64(d.m.rows) * UInt64(t.rowBytes(cols: d.m.cols)))
                let written = try encodeTensor(d.m, sourceRow: { rowOrder?[$0] ?? $0 }, as: t, to: out, at: first,
                                               releasingSource: rowOrder == nil, threads: options.threads)
                crc = written.crc
                for sums in written.rowErrors { st.merge(sums) }
            }
            stats[d.cls] = st
            checkpoint.releaseResidentPages(d.m.base, count: d.m.spanBytes)
            let n = out.bytesWritten - offset
            tensorEntries.append(.object([("name", .string(d.name))] + t.manifestFields + [
                                          ("shape", .array(d.shape.map { .integer($0) })), ("offset", .integer(offset)),
                                          ("bytes", .integer(n)), ("crc32", .integer(crc))]))
            done += UInt64(d.m.rows * d.m.cols)
            progress(done, total)
        }
        var expertsJSON: JSONValue = .null
        if E > 0 {
            try out.pad(toMultipleOf: UInt64(align))
            let expertsOffset = out.bytesWritten
            var st = ErrorStats()
            var crcs = [[JSONValue]](repeating: [JSONValue](repeating: .null, count: E), count: a.numLayers)
            // Up to a layer's blocks (at most 64 MiB of them), encoded in place and written from here (zeroed once:
            // padding stays zero).
            let batchBlocks = max(1, min(E, (64 << 20) / Int(blockBytes)))
            let layerBlocks = UnsafeMutableRawBufferPointer.allocate(byteCount: batchBlocks * Int(blockBytes), alignment: 4096)
            layerBlocks.initializeMemory(as: UInt8.self, repeating: 0)
            defer { layerBlocks.deallocate() }
            // The resident section (slots 0..<resident of every layer), then the streamed section (the rest).
            for section in [0..<resident, resident..<E] where !section.isEmpty {
                for (l, lw) in weights.layers.enumerated() {
                    // The layer's blocks in this section are contiguous: reserve them, let the threads encode and
                    // write whole blocks in place, then merge checksums and errors in slot order.
                    let first = try out.reserve(UInt64(section.count) * blockBytes)
                    let written = encodeExpertBlocks(layer: lw, slots: section.map { order[l][$0] }, layout: layout,
                                                     blocks: layerBlocks, to: out, at: first, threads: options.threads)
                    for (i, block) in written.enumerated() {
                        let b = try block.get()
                        crcs[l][section.lowerBound + i] = .integer(b.crc)
                        st.merge(b.errors)
                        done += UInt64(2 * de * H)
                    }
                    out.startWriteback(offset: first, length: UInt64(section.count) * blockBytes)
                    if section.upperBound == E {
                        for m in lw.expertUp + lw.expertDown {
                            checkpoint.releaseResidentPages(m.base, count: m.spanBytes)
                        }
                    }
                    progress(done, total)
                }
            }
            stats["experts"] = st
            classType["experts"] = upType.manifestName
            expertsJSON = .object([
                ("up", .object(upType.manifestFields)), ("down", .object(downType.manifestFields)),
                ("dtype", .string(upType.manifestName)), ("expert_size", .integer(de)), ("hidden_size", .integer(H)),
                ("layers", .integer(a.numLayers)), ("count", .integer(E)), ("offset", .integer(expertsOffset)),
                ("block_bytes", .integer(blockBytes)), ("alignment", .integer(align)),
                ("resident_count", .integer(resident)),
                ("order", .array(order.map { .array($0.map { .integer($0) }) })),
                ("blocks", .array(crcs.map { .array($0) })),
            ])
        }
        var attachmentsJSON: [JSONValue] = []
        for path in options.attachments {
            let f = try MappedFile(path: path)
            try out.pad(toMultipleOf: 64)
            let offset = out.bytesWritten
            try f.withBytes { try out.write($0) }
            let name = path.split(separator: "/").last.map(String.init) ?? path
            attachmentsJSON.append(.object([("name", .string(name)), ("offset", .integer(offset)), ("bytes", .integer(f.size)),
                                            ("crc32", .integer(f.withBytes { CRC32.checksum($0) }))]))
        }
        let sourceFiles = try sourceChecksums.result()
        let sourceBytes = sourceFiles.reduce(UInt64(0)) { $0 + $1.bytes }
        let sources: [JSONValue] = sourceFiles.map {
            .object([("name", .string($0.name)), ("bytes", .integer($0.bytes)), ("crc32", .integer($0.crc))])
        }
        let classOrder = ["embeddings", "attention", "dense_ffn", "experts", "router", "norms", "head"].filter { stats[$0] != nil }
        let manifest = JSONValue.object([
            ("format", "bfpk"), ("version", 1),
            ("config", checkpoint.config.raw),
            ("architecture", architectureJSON(a)),
            ("alignment", .integer(align)),
            ("tensors", .array(tensorEntries)),
            ("experts", expertsJSON),
            ("quantization", .object([
                ("scheme", .string(options.quant.map(\.description) ?? "source")),
                ("expert_dtype", E > 0 ? .string(upType.manifestName) : .null),
                ("kept", ["router", "norms"]),
                ("classes", .object(classOrder.map { ($0, JSONValue.object([("dtype", .string(classType[$0]!)), ("error", stats[$0]!.json)])) })),
            ])),
            ("provenance", .object([
                ("tool", "bffn"), ("tool_version", .string(PackWriter.toolVersion)), ("source_files", .array(sources)),
                ("options", .object([("quant", .string(options.quant.map(\.description) ?? "source")),
                                     ("quant_embeddings", options.embeddingQuant.map { .string($0.description) } ?? .null),
                                     ("keep", .object(options.keep.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value.description)) })),
                                     ("align", .integer(align))])),
                ("deployment", options.deployment ?? .null),
            ])),
            ("attachments", .array(attachmentsJSON)),
        ])
        try out.pad(toMultipleOf: 64)
        let manifestOffset = out.bytesWritten
        let manifestBytes = Array(manifest.serialized(pretty: false).utf8)
        try out.write(manifestBytes)
        let header = PackHeader(manifestOffset: manifestOffset, manifestLength: UInt64(manifestBytes.count),
                                manifestCRC: CRC32.checksum(manifestBytes), alignment: UInt32(align), fileLength: out.bytesWritten)
        try out.overwrite(header.bytes, at: 0)
        try options.checkBeforeCommit?(out.temporaryPath)
        let size = out.bytesWritten
        try out.commit()
        return ConvertReport(output: output, sourceBytes: sourceBytes, outputBytes: size,
                             classes: classOrder.map { ($0, classType[$0]!, stats[$0]!) })
    }

    /// The version recorded in provenance.
    public static let toolVersion = "0.1.0"

    static func architectureJSON(_ a: ModelArchitecture) -> JSONValue {
        var m: [(String, JSONValue)] = [
            ("attention", .string(a.attention.rawValue)), ("ffn_layout", .string(a.ffnLayout.rawValue)),
            ("router_norm", a.routerNorm.map { .string($0.rawValue) } ?? .null), ("hidden_size", .integer(a.hiddenSize)),
            ("num_layers", .integer(a.numLayers)), ("num_experts", .integer(a.numExperts)), ("expert_size", .integer(a.expertSize)),
            ("vocab_size", .integer(a.vocabSize)), ("num_attention_heads", a.numAttentionHeads.map { .integer($0) } ?? .null),
            ("num_key_value_heads", a.numKeyValueHeads.map { .integer($0) } ?? .null), ("head_dim", a.headDim.map { .integer($0) } ?? .null),
            ("tied_embeddings", .bool(a.tiedEmbeddings)),
        ]
        if let x = a.mla {
            m.append(("mla", .object([("q_lora_rank", .integer(x.qLoraRank)), ("kv_lora_rank", .integer(x.kvLoraRank)),
                                      ("qk_nope_head_dim", x.qkNopeHeadDim.map { .integer($0) } ?? .null),
                                      ("qk_rope_head_dim", .integer(x.qkRopeHeadDim)), ("v_head_dim", x.vHeadDim.map { .integer($0) } ?? .null)])))
        } else {
            m.append(("mla", .null))
        }
        return .object(m)
    }

    /// Encodes every row of `m` (output row i holds source row `sourceRow(i)`) as `type` and writes the rows one
    /// after another from `first` (a range from `reserve`). The rows are cut into pieces of about `pieceBytes` that the
    /// threads take as they become free; each piece is encoded, checksummed, written, its writeback started and,
    /// when `releasingSource`, its source pages let go, so a large embedding never sits in memory whole. Returns
    /// the CRC-32 of all rows (piece CRCs combined in order) and each row's error sums in row order (merged by the
    /// caller in that order, so totals do not depend on threads).
    /// - Throws: the first write error.
    static func encodeTensor(_ m: WeightMatrix, sourceRow: (Int) -> Int, as type: StorageType, to out: AtomicFileWriter,
                             at first: UInt64, releasingSource: Bool, threads: Int,
                             pieceBytes: Int = 1 << 20) throws -> (crc: UInt32, rowErrors: [WeightQuantizer.ErrorSums]) {
        let rowBytes = type.rowBytes(cols: m.cols), rows = m.rows
        let pieceRows = max(1, min(rows, pieceBytes / max(1, rowBytes)))
        let pieces = (rows + pieceRows - 1) / pieceRows
        var sums = [WeightQuantizer.ErrorSums](repeating: .init(), count: rows)
        var pieceCRCs = [UInt32](repeating: 0, count: pieces)
        var pieceErrors = [BFFNError?](repeating: nil, count: pieces)
        let writer = SharedWriter(out)
        sums.withUnsafeMutableBufferPointer { s in
            pieceCRCs.withUnsafeMutableBufferPointer { c in
                pieceErrors.withUnsafeMutableBufferPointer { e in
                    let slots = PartSlots(sums: s, crcs: c, errors: e)
                    WorkerPool.shared.run(parts: threads > 1 ? pieces : 1, threads: threads) { part in
                        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: pieceRows * rowBytes, alignment: 64)
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: m.cols)
                        defer {
                            piece.deallocate()
                            scratch.deallocate()
                        }
                        // One part does every piece when running on one thread.
                        for p in threads > 1 ? part..<(part + 1) : 0..<pieces {
                            let r0 = p * pieceRows, r1 = min(rows, r0 + pieceRows)
                            for r in r0..<r1 {
                                encodeRow(m, sourceRow(r), as: type, into: piece.baseAddress! + (r - r0) * rowBytes, scratch: scratch,
                                          errors: &slots.sums[r])
                            }
                            let bytes = UnsafeRawBufferPointer(rebasing: piece[0..<((r1 - r0) * rowBytes)])
                            slots.crcs[p] = CRC32.checksum(bytes)
                            let at = first + UInt64(r0 * rowBytes)
                            do {
                                try writer.out.write(bytes, at: at)
                            } catch {
                                slots.errors[p] = error as? BFFNError ?? BFFNError(.io, "\(error)")
                                return
                            }
                            writer.out.startWriteback(offset: at, length: UInt64(bytes.count))
                            if releasingSource { releaseMappedPages(m.row(r0), count: (r1 - r0) * m.rowStrideBytes) }
                        }
                    }
                }
            }
        }
        if let e = pieceErrors.compactMap({ $0 }).first { throw e }
        var crc = pieceCRCs[0]
        for p in 1..<pieces {
            crc = CRC32.combine(crc, pieceCRCs[p], length: (min(rows, (p + 1) * pieceRows) - p * pieceRows) * rowBytes)
        }
        return (crc, sums)
    }

    /// One encoded expert block: its CRC-32 over the data bytes and its quantization error.
    struct WrittenBlock {
        var crc: UInt32
        var errors: WeightQuantizer.ErrorSums
    }

    /// Encodes the experts `slots` (source expert indices, in slot order) of one layer into whole blocks
    /// (up rows, then down rows, then zero padding to `blockBytes`) and writes block i at `first + i·blockBytes`.
    /// `blocks` holds a whole number of blocks (at least one), zero after each block's data bytes (only data bytes
    /// are ever written to it, so one zeroed buffer serves every layer); the slots are encoded that many at a
    /// time. Results come back in slot order (an I/O error per failed block).
    static func encodeExpertBlocks(layer lw: LayerWeights, slots: [Int], layout: PackLayout, blocks: UnsafeMutableRawBufferPointer,
                                   to out: AtomicFileWriter, at first: UInt64, threads: Int) -> [Result<WrittenBlock, BFFNError>] {
        let upType = layout.upType, downType = layout.downType, blockBytes = Int(layout.blockBytes)
        let upRowBytes = upType.rowBytes(cols: lw.expertUp.first?.cols ?? 0)
        let downRowBytes = downType.rowBytes(cols: lw.expertDown.first?.cols ?? 0)
        let maxCols = max(lw.expertUp.first?.cols ?? 0, lw.expertDown.first?.cols ?? 0, 1)
        let results = UnsafeMutableBufferPointer<Result<WrittenBlock, BFFNError>?>.allocate(capacity: slots.count)
        results.initialize(repeating: nil)
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        let box = ResultSlots(results), writer = SharedWriter(out)
        let buffer = SharedBuffer(blocks.baseAddress!)
        let batch = blocks.count / blockBytes
        var start = 0
        while start < slots.count {
            let end = min(slots.count, start + batch)
            // One part per expert, taken by whichever thread is free (experts take equal time, but the machine may
            // not give both threads equal time); with one thread, one part does them all.
            WorkerPool.shared.run(parts: threads > 1 ? end - start : 1, threads: threads) { part in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: maxCols)
                defer { scratch.deallocate() }
                for i in threads > 1 ? (start + part)..<(start + part + 1) : start..<end {
                    let block = buffer.base + (i - start) * blockBytes
                    let up = lw.expertUp[slots[i]], down = lw.expertDown[slots[i]]
                    var errors = WeightQuantizer.ErrorSums()
                    for r in 0..<up.rows {
                        encodeRow(up, r, as: upType, into: block + r * upRowBytes, scratch: scratch, errors: &errors)
                    }
                    let downStart = block + up.rows * upRowBytes
                    for r in 0..<down.rows {
                        encodeRow(down, r, as: downType, into: downStart + r * downRowBytes, scratch: scratch, errors: &errors)
                    }
                    let crc = CRC32.checksum(UnsafeRawBufferPointer(start: block, count: Int(layout.expertDataBytes)))
                    do {
                        try writer.out.write(UnsafeRawBufferPointer(start: block, count: blockBytes), at: first + UInt64(i * blockBytes))
                        box.slots[i] = .success(WrittenBlock(crc: crc, errors: errors))
                    } catch let e as BFFNError {
                        box.slots[i] = .failure(e)
                    } catch {
                        box.slots[i] = .failure(BFFNError(.io, "\(error)"))
                    }
                }
            }
            start = end
        }
        return results.map { $0! }
    }

    /// Row r of `m` stored as `type` at `destination` (a byte copy when the types agree); `scratch` holds at
    /// least `m.cols` floats.
    static func encodeRow(_ m: WeightMatrix, _ r: Int, as type: StorageType, into destination: UnsafeMutableRawPointer,
                          scratch: UnsafeMutablePointer<Float>, errors: inout WeightQuantizer.ErrorSums) {
        if type == m.type && type.isFloat {
            errors.elements += UInt64(m.cols)   // a byte copy: zero error, nothing else to record
            destination.copyMemory(from: m.row(r), byteCount: m.cols * m.type.size)
            return
        }
        if m.type.isFloat {
            WeightQuantizer.encode(m.row(r), storedAs: m.type, count: m.cols, as: type, into: destination, errors: &errors)
        } else {
            m.loadRow(r, into: scratch)
            WeightQuantizer.encode(scratch, count: m.cols, as: type, into: destination, errors: &errors)
        }
    }
}

/// What worker parts of `encodeTensor` report: per-row error sums, per-part CRCs and errors (disjoint indices).
struct PartSlots: @unchecked Sendable {
    let sums: UnsafeMutableBufferPointer<WeightQuantizer.ErrorSums>
    let crcs: UnsafeMutableBufferPointer<UInt32>
    let errors: UnsafeMutableBufferPointer<BFFNError?>
}

/// A buffer worker parts write disjoint ranges of.
struct SharedBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    init(_ base: UnsafeMutableRawPointer) { self.base = base }
}

/// The output writer shared with worker parts, which only make positional writes to disjoint ranges.
struct SharedWriter: @unchecked Sendable {
    let out: AtomicFileWriter
    init(_ out: AtomicFileWriter) { self.out = out }
}

#if canImport(Glibc)
import Glibc
#endif

/// Result slots written by worker parts (each part writes disjoint indices).
struct ResultSlots<T>: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<T?>
    init(_ s: UnsafeMutableBufferPointer<T?>) { slots = s }
}
