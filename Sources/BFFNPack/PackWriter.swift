import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNModel

/// Converts any checkpoint bffn reads into a `.bfpk` file (formats/bfpk.md), streaming one tensor or expert
/// block at a time so memory stays bounded whatever the model size. Deterministic: the same source and options
/// give the same bytes. The output appears under its final name only when complete.
public enum PackWriter {
    /// Converts `source` to `output`; `progress` is called with (source bytes converted, source bytes in all).
    /// - Throws: reader errors; `.unsupported` for a source that is already a pack, for source tensors the pack
    ///   would lose, and (with `strictGroups`) for a group that does not divide a tensor's rows; `.usage` for an
    ///   alignment outside `PackHeader.isSupportedAlignment`, an override of a fixed class or a bad expert order;
    ///   `.outputExists` without `overwrite`; `.internalError` if the expert section lands elsewhere than
    ///   `PackLayout` planned; whatever `checkBeforeCommit` throws.
    public static func convert(source: String, to output: String, options: ConvertOptions,
                               progress: (UInt64, UInt64) -> Void = { _, _ in }) throws -> ConvertReport {
        let align = options.alignment
        guard PackHeader.isSupportedAlignment(align) else {
            throw BFFNError(.usage, "--align must be \(PackHeader.alignmentRule), not \(align)")
        }
        if PackFile.isPack(path: source) {
            throw BFFNError(.unsupported, "is already a .bfpk pack; to store it differently, convert its source checkpoint, or export it first (bffn export \(source) -o DIR) and convert DIR",
                            file: source)
        }
        // Stored .bin entries are checked against their zip CRC-32s in the same pass that checksums the source.
        let checkpoint = try Checkpoint(path: source, deferStorageChecksums: true)
        try refuseLosingTensors(checkpoint)
        let weights = try ModelWeights(checkpoint: checkpoint)
        let layout = try PackLayout(weights: weights, options: options)
        try options.statistics?.check(against: weights)
        let a = weights.architecture
        let H = a.hiddenSize, E = a.numExperts, de = a.expertSize
        let dense = layout.dense, order = layout.order, upType = layout.upType, downType = layout.downType
        let blockBytes = layout.blockBytes
        let resident = options.residentExperts ?? E
        guard resident >= 0 && resident <= E else {
            throw BFFNError(.usage, "resident experts must be 0...\(E), not \(resident)", field: "resident_experts")
        }
        let out = try AtomicFileWriter(path: output, overwrite: options.overwrite)
        let sourceChecksums = SourceChecksums(paths: checkpoint.filePaths, checks: checkpoint.deferredChecksums, threads: options.threads)
        defer { sourceChecksums.cancel() }
        try out.write([UInt8](repeating: 0, count: PackHeader.length))
        try out.pad(toMultipleOf: UInt64(align))
        var stats: [TensorClass: ErrorStats] = [:]
        // Per class: the storages and the reasons its tensors got, distinct, in file order.
        var classTypes: [TensorClass: [String]] = [:], classRules: [TensorClass: [String]] = [:]
        func record(_ c: TensorClass, _ type: String, _ rule: String) {
            if !(classTypes[c] ?? []).contains(type) { classTypes[c, default: []].append(type) }
            if !(classRules[c] ?? []).contains(rule) { classRules[c, default: []].append(rule) }
        }
        var tensorEntries: [JSONValue] = []
        // Progress counts source bytes read: every dense tensor, then every expert's up and down weights.
        let total = dense.reduce(UInt64(0)) { $0 + UInt64($1.tensor.matrix.byteCount) } + UInt64(a.numLayers * E * weights.bytesPerExpert)
        var done: UInt64 = 0
        for (named, t, rule) in dense {
            let d = (name: named.name, cls: named.tensorClass, m: named.matrix, shape: named.shape, layer: named.expertOrderLayer)
            try out.pad(toMultipleOf: 64)
            record(d.cls, t.manifestName, rule)
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
                let written = try encodeTensor(d.m, sourceRow: { rowOrder?[$0] ?? $0 }, as: t, search: options.scaleSearch,
                                               importance: options.statistics?.meanSquares(of: d.name), to: out, at: first,
                                               releasingSource: rowOrder == nil, threads: options.threads)
                crc = written.crc
                for sums in written.rowErrors { st.merge(sums) }
            }
            stats[d.cls] = st
            checkpoint.releaseResidentPages(d.m.base, count: d.m.spanBytes)
            let n = out.bytesWritten - offset
            tensorEntries.append(.object([("name", .string(d.name))] + t.manifestFields + [
                                          ("shape", .array(d.shape.map { .integer($0) })), ("offset", .integer(offset)),
                                          ("bytes", .integer(n)), ("crc32", .integer(crc)), ("rule", .string(rule))]))
            done += UInt64(d.m.byteCount)
            progress(done, total)
        }
        var expertsJSON: JSONValue = .null
        if E > 0 {
            try out.pad(toMultipleOf: UInt64(align))
            let expertsOffset = out.bytesWritten
            try checkPlannedOffset(expertsOffset, planned: layout.expertsOffset)
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
                    guard let experts = lw.experts else { continue }
                    // The layer's blocks in this section are contiguous: reserve them, let the threads encode and
                    // write whole blocks in place, then merge checksums and errors in slot order.
                    let first = try out.reserve(UInt64(section.count) * blockBytes)
                    let written = encodeExpertBlocks(layer: experts, slots: section.map { order[l][$0] }, layout: layout,
                                                     blocks: layerBlocks, search: options.scaleSearch,
                                                     statistics: options.statistics?.experts(layer: l), to: out, at: first, threads: options.threads)
                    for (i, block) in written.enumerated() {
                        let b = try block.get()
                        crcs[l][section.lowerBound + i] = .integer(b.crc)
                        st.merge(b.errors)
                        done += UInt64(weights.bytesPerExpert)
                    }
                    out.startWriteback(offset: first, length: UInt64(section.count) * blockBytes)
                    if section.upperBound == E {
                        for m in experts.up + experts.down {
                            checkpoint.releaseResidentPages(m.base, count: m.spanBytes)
                        }
                    }
                    progress(done, total)
                }
            }
            stats[.experts] = st
            record(.experts, upType.manifestName, layout.upRule)
            record(.experts, downType.manifestName, layout.downRule)
            expertsJSON = .object([
                ("up", .object(upType.manifestFields + [("rule", .string(layout.upRule))])),
                ("down", .object(downType.manifestFields + [("rule", .string(layout.downRule))])),
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
        let draftHeadJSON = try options.draftHead.map {
            try writeDraftHead(folder: $0, vocabularySize: options.draftVocabularySize, target: weights, to: out)
        } ?? .null
        let sourceFiles = try sourceChecksums.result()
        let sourceBytes = sourceFiles.reduce(UInt64(0)) { $0 + $1.bytes }
        let sources: [JSONValue] = sourceFiles.map {
            .object([("name", .string($0.name)), ("bytes", .integer($0.bytes)), ("crc32", .integer($0.crc))])
        }
        let classOrder = TensorClass.allCases.filter { stats[$0] != nil }
        var calibrationJSON = JSONValue.null
        if let s = options.statistics {
            let sources: [JSONValue] = s.sources.map { .string($0) }
            calibrationJSON = .object([("sources", .array(sources)), ("tokens", .integer(s.tokens)), ("prior_tokens", .integer(s.priorTokens))])
        }
        let scheme = options.recipe?.name ?? options.quant.map(\.description) ?? "source"
        let quantizationHead: [(String, JSONValue)] = [("scheme", .string(scheme)), ("scale_search", .string(options.scaleSearch.rawValue))]
            + (calibrationJSON == .null ? [] : [("calibration", calibrationJSON)])
        let manifest = JSONValue.object([
            ("format", "bfpk"), ("version", 1),
            ("config", checkpoint.config.raw),
            ("architecture", a.json),
            ("alignment", .integer(align)),
            ("tensors", .array(tensorEntries)),
            ("experts", expertsJSON),
            ("quantization", .object(quantizationHead + [
                ("expert_dtype", E > 0 ? .string(upType.manifestName) : .null),
                ("kept", ["router", "norms"]),
            ] + (layout.fitted.isEmpty ? [] : [("fitted", .array(layout.fitted.map(\.json)))]) + [
                ("classes", .object(classOrder.map { c in
                    (c.rawValue, JSONValue.object([("dtype", .string(classTypes[c]!.joined(separator: "+"))),
                                                   ("rule", .string(classRules[c]!.joined(separator: "; "))),
                                                   ("error", stats[c]!.json)]))
                })),
            ])),
            ("provenance", .object([
                ("tool", "bffn"), ("tool_version", .string(PackWriter.toolVersion)), ("source_files", .array(sources)),
                ("options", .object([("quant", .string(options.quant.map(\.description) ?? "source")),
                                     ("quant_embeddings", options.embeddingQuant.map { .string($0.description) } ?? .null),
                                     ("keep", .object(options.overrides.enumerated().filter { i, o in !options.overrides[(i + 1)...].contains { $0.scope == o.scope } }
                                        .map { ($0.1.scope.description, JSONValue.string($0.1.storage.description)) })),
                                     ("align", .integer(align))])),
                ("deployment", options.deployment ?? .null),
            ])),
            ("attachments", .array(attachmentsJSON)),
            ("draft_head", draftHeadJSON),
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
                             classes: classOrder.map { ($0, classTypes[$0]!.joined(separator: "+"), stats[$0]!) }, fitted: layout.fitted,
                             removedStaleFiles: out.removedStaleFiles)
    }

    /// The expert section starts where `PackLayout` planned it (device budgets and reports use the plan, the
    /// manifest records what was written): the two must agree.
    /// - Throws: `.internalError` when they differ.
    static func checkPlannedOffset(_ written: UInt64, planned: UInt64) throws {
        guard written == planned else {
            throw BFFNError(.internalError, "the expert section starts at byte \(written), but the layout planned \(planned)", field: "experts.offset")
        }
    }

    /// The version recorded in provenance.
    public static let toolVersion = "0.1.0"

    /// Nothing a checkpoint holds may silently miss the pack: every tensor the recognised architecture does not
    /// read is an error naming it, except an LM head whose bytes equal the embedding's (the published converter
    /// writes such a copy when the head is tied, so dropping it loses nothing).
    /// - Throws: `.unsupported` naming the tensors that would be lost and why.
    static func refuseLosingTensors(_ checkpoint: Checkpoint) throws {
        let recognition = try checkpoint.recognize()
        let read = Set(recognition.required.map(\.name))
        let names = TensorNames.of(recognition.architecture.ffnLayout)
        var lost: [String] = []
        for t in checkpoint.tensors where !read.contains(t.name) {
            if t.name == names.head, recognition.architecture.tiedEmbeddings, let embedding = checkpoint.tensor(named: names.embedding),
               t.dtype == embedding.dtype, t.shape == embedding.shape,
               try sameBytes(checkpoint.bytes(of: t), checkpoint.bytes(of: embedding)) {
                continue
            }
            lost.append(t.name)
        }
        guard lost.isEmpty else {
            let why = lost.contains(names.head) && recognition.architecture.tiedEmbeddings
                ? " (the head is taken as tied to the embedding because config.json \(checkpoint.configPath == nil ? "is missing" : "does not say tie_word_embeddings: false"), but \(names.head) differs from it: set tie_word_embeddings in config.json)"
                : ""
            throw BFFNError(.unsupported, "\(lost.count) tensor(s) would not reach the pack: \(lost.prefix(8).joined(separator: ", "))\(lost.count > 8 ? ", ..." : "")\(why)",
                            file: checkpoint.primaryFile, field: lost[0])
        }
    }

    /// Whether two tensors' bytes are equal (compared in place, nothing copied).
    static func sameBytes(_ a: LoadedBytes, _ b: LoadedBytes) -> Bool {
        a.withBytes { x in b.withBytes { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
    }
}
