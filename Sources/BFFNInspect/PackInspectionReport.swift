import BFFNCheckpoint
import BFFNCore
import BFFNKernels
import BFFNPack

/// What `bffn inspect` reports about a `.bfpk` file: the checkpoint keys plus "quantization" and "experts".
public struct PackInspectionReport {
    public let pack: PackFile

    /// The carried draft head (nil when none, or when it does not load: `draftHeadError`).
    public let draftHead: DraftHeadInspection?
    public let draftHeadError: BFFNError?

    public init(pack: PackFile) {
        self.pack = pack
        do {
            draftHead = try pack.eagleHead().map { DraftHeadInspection(head: $0.head, vocabularies: $0.vocabulary.ids == nil ? [] : [$0.vocabulary.count], carried: true) }
            draftHeadError = nil
        } catch let e as BFFNError {
            draftHead = nil
            draftHeadError = e
        } catch {
            draftHead = nil
            draftHeadError = BFFNError(.malformed, "\(error)", file: pack.path, field: "draft_head")
        }
    }

    /// Elements stored: dense tensors plus every expert block's up and down weights.
    public var parameterCount: UInt64 {
        let dense = pack.tensors.reduce(UInt64(0)) { $0 + (Shape.elementCount($1.shape) ?? 0) }
        guard let e = pack.experts else { return dense }
        return dense + UInt64(e.layers * e.count * 2 * e.expertSize * e.hiddenSize)
    }

    /// The `--json` document.
    public var json: JSONValue {
        let a = pack.architecture
        var tensors: [JSONValue] = pack.tensors.map { t in
            .object([("name", .string(t.name)), ("dtype", .string(t.storage.label)), ("shape", .array(t.shape.map { .integer($0) })),
                     ("bytes", .integer(t.bytes)), ("offset", .integer(t.offset))])
        }
        var experts: JSONValue = .null
        if let e = pack.experts {
            experts = .object([
                ("dtype", .string(e.upStorage.label)), ("down_dtype", .string(e.downStorage.label)), ("count", .integer(e.count)), ("expert_size", .integer(e.expertSize)),
                ("layers", .integer(e.layers)), ("block_bytes", .integer(e.blockBytes)), ("data_bytes", .integer(e.dataBytes)),
                ("alignment", .integer(pack.header.alignment)), ("offset", .integer(e.offset)),
                ("resident_count", .integer(e.residentCount)), ("resident_bytes", .integer(e.residentBytes)), ("streamed_bytes", .integer(e.streamedBytes)),
                ("order", .array(e.order.map { .array($0.map { .integer($0) }) })),
                ("deployment_profile", pack.manifest["provenance"]?["deployment"]?["profile"]?["name"] ?? .null),
            ])
            for l in 0..<e.layers {
                tensors.append(.object([("name", .string("model.layers.\(l).experts")), ("dtype", .string(e.upStorage.label)),
                                        ("shape", [.integer(e.count), 2, .integer(e.expertSize), .integer(e.hiddenSize)]),
                                        ("bytes", .integer(e.blockBytes * UInt64(e.count))), ("offset", .integer(e.blockOffset(layer: l, slot: 0))),
                                        ("contiguous", .bool(e.residentCount == e.count || e.residentCount == 0))]))
            }
        }
        let attachmentsJSON: JSONValue = .array(pack.attachments.map { .object([("name", .string($0.name)), ("bytes", .integer($0.bytes))]) })
        let draftHeadJSON: JSONValue = draftHead?.json ?? .null
        return .object([
            ("format", "bfpk"), ("files", [.string(pack.path)]), ("version", .integer(PackHeader.version)),
            ("parameters", .integer(parameterCount)),
            ("model", .object([
                ("attention", .string(a.attention.rawValue)), ("ffn_layout", .string(a.ffnLayout.rawValue)),
                ("router_norm", a.routerNorm.map { .string($0.rawValue) } ?? .null), ("hidden_size", .integer(a.hiddenSize)),
                ("num_layers", .integer(a.numLayers)), ("num_experts", .integer(a.numExperts)), ("expert_size", .integer(a.expertSize)),
                ("vocab_size", .integer(a.vocabSize)), ("num_attention_heads", a.numAttentionHeads.map { .integer($0) } ?? .null),
                ("num_key_value_heads", a.numKeyValueHeads.map { .integer($0) } ?? .null), ("tied_embeddings", .bool(a.tiedEmbeddings)),
            ])),
            ("quantization", pack.manifest["quantization"] ?? .null),
            ("experts", experts),
            ("attachments", attachmentsJSON),
            ("draft_head", draftHeadJSON),
            ("provenance", pack.manifest["provenance"] ?? .null),
            ("tensors", .array(tensors)),
            ("warnings", []),
        ])
    }

    /// The human summary.
    public func text(includeTensors: Bool) -> String {
        let a = pack.architecture
        var lines = ["format      bfpk version \(PackHeader.version), \(pack.file.size) bytes, alignment \(pack.header.alignment)",
                     "  file      \(pack.path)",
                     "parameters \(TextNumber.grouped(parameterCount))",
                     "model       attention \(a.attention.rawValue), source FFN \(a.ffnLayout.rawValue), router norm \(a.routerNorm?.rawValue ?? "-")",
                     "  hidden \(a.hiddenSize), layers \(a.numLayers), vocab \(a.vocabSize), heads \(a.numAttentionHeads.map(String.init) ?? "?"), tied embeddings \(a.tiedEmbeddings ? "yes" : "no")"]
        if let e = pack.experts {
            lines.append("experts     \(e.count) x \(e.expertSize) per layer, \(e.upStorage.label), one \(e.blockBytes)-byte block each (\(e.dataBytes) data bytes), first at \(e.offset)")
            if e.residentCount < e.count {
                lines.append("  resident  \(e.residentCount) per layer (\(e.residentBytes) bytes), streamed \(e.count - e.residentCount) per layer (\(e.streamedBytes) bytes)")
            }
            if let profile = pack.manifest["provenance"]?["deployment"]?["profile"]?["name"]?.stringValue {
                lines.append("  packed    for profile \(profile), experts hot-first")
            }
        }
        if let q = pack.manifest["quantization"]?["classes"]?.objectMembers {
            for c in q {
                let snr = c.value["error"]?["snr_db"]?.numberValue.map { "SNR \(Int($0.rounded())) dB" } ?? "lossless"
                lines.append("  \(c.key.padding(toLength: 11)) \(c.value["dtype"]?.stringValue ?? "?")  \(snr)")
            }
        }
        for f in pack.manifest["quantization"]?["fitted"]?.arrayElements ?? [] {
            lines.append("  fitted    \(f["name"]?.stringValue ?? "?"): \(f["requested"]?.stringValue ?? "?") -> \(f["stored"]?.stringValue ?? "?") (the group does not divide its rows)")
        }
        for at in pack.attachments { lines.append("attachment  \(at.name) (\(at.bytes) bytes)") }
        if let d = draftHead { lines.append(d.line) }
        if includeTensors {
            lines.append("")
            for t in pack.tensors {
                lines.append("\(t.name)  \(t.storage.label)  \(Shape.describe(t.shape))  \(TextNumber.bytesWithSize(t.bytes)) at \(t.offset)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
