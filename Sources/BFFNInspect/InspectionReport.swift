import BFFNCore
import BFFNCheckpoint
import BFFNModel

/// What `bffn inspect` reports about a checkpoint, as JSON (`json`) and as text (`text`).
///
/// Building a report reads only headers. When the model cannot be recognised the report still lists the
/// tensors, and `recognitionError` holds why; the caller decides the exit status.
public struct InspectionReport {
    /// The opened checkpoint.
    public let checkpoint: Checkpoint
    /// The recognition result, when recognition succeeded.
    public let recognition: ModelRecognizer.Result?
    /// Why recognition failed, when it did.
    public let recognitionError: BFFNError?

    /// Builds the report for `checkpoint`.
    public init(checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
        do {
            recognition = try checkpoint.recognize()
            recognitionError = nil
        } catch let e as BFFNError {
            recognition = nil
            recognitionError = e
        } catch {
            recognition = nil
            recognitionError = BFFNError(.malformed, "\(error)")
        }
    }

    /// Total element count over all tensors (tensors that share one storage under two names count once
    /// per name, as in safetensors).
    public var parameterCount: UInt64 { checkpoint.tensors.reduce(0) { $0 + $1.elementCount } }

    /// Bytes per dtype, summed over tensors.
    public var bytesPerDType: [(DType, UInt64)] {
        var m: [DType: UInt64] = [:]
        for t in checkpoint.tensors { m[t.dtype, default: 0] += t.byteCount }
        return m.sorted { $0.key < $1.key }
    }

    /// Warnings: reader notes plus recognition warnings.
    public var warnings: [String] { checkpoint.notes + (recognition?.warnings ?? []) }

    /// The `--json` document: format, files, tensors, parameters, model, warnings (see README).
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("format", .string(checkpoint.format.rawValue)),
            ("files", .array(checkpoint.filePaths.map { .string($0) })),
            ("config", checkpoint.configPath.map { .string($0) } ?? .null),
            ("parameters", .integer(parameterCount)),
            ("bytes_per_dtype", .object(bytesPerDType.map { ($0.0.rawValue, JSONValue.integer($0.1)) })),
        ]
        if let r = recognition {
            let a = r.architecture
            var model: [(String, JSONValue)] = [
                ("attention", .string(a.attention.rawValue)),
                ("ffn_layout", .string(a.ffnLayout.rawValue)),
                ("router_norm", a.routerNorm.map { .string($0.rawValue) } ?? .null),
                ("hidden_size", .integer(a.hiddenSize)),
                ("num_layers", .integer(a.numLayers)),
                ("num_experts", .integer(a.numExperts)),
                ("expert_size", .integer(a.expertSize)),
                ("vocab_size", .integer(a.vocabSize)),
                ("num_attention_heads", a.numAttentionHeads.map { .integer($0) } ?? .null),
                ("num_key_value_heads", a.numKeyValueHeads.map { .integer($0) } ?? .null),
                ("tied_embeddings", .bool(a.tiedEmbeddings)),
            ]
            if let m = a.mla {
                model.append(("mla", .object([
                    ("q_lora_rank", .integer(m.qLoraRank)), ("kv_lora_rank", .integer(m.kvLoraRank)),
                    ("qk_nope_head_dim", m.qkNopeHeadDim.map { .integer($0) } ?? .null),
                    ("qk_rope_head_dim", .integer(m.qkRopeHeadDim)),
                    ("v_head_dim", m.vHeadDim.map { .integer($0) } ?? .null),
                ])))
            }
            if let g = r.expertGeometry {
                model.append(("expert_geometry", .object([
                    ("up_tensor", .string(g.upTensor)), ("up_placement", .string(g.upPlacement)),
                    ("up_contiguous", .bool(g.upContiguous)),
                    ("down_tensor", .string(g.downTensor)), ("down_placement", .string(g.downPlacement)),
                    ("down_contiguous", .bool(g.downContiguous)),
                ])))
            }
            members.append(("model", .object(model)))
        } else {
            members.append(("model", .null))
            members.append(("error", .string(recognitionError?.description ?? "")))
        }
        members.append(("tensors", .array(checkpoint.tensors.map { t in
            .object([
                ("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .integer($0) })), ("bytes", .integer(t.byteCount)),
                ("contiguous", .bool(t.isContiguous)),
            ])
        })))
        members.append(("warnings", .array(warnings.map { .string($0) })))
        return .object(members)
    }

    /// The human summary; with `includeTensors`, the tensor table follows.
    public func text(includeTensors: Bool) -> String {
        var lines: [String] = []
        lines.append("format      \(checkpoint.format.rawValue) (\(checkpoint.files.count) file\(checkpoint.files.count == 1 ? "" : "s"))")
        for f in checkpoint.filePaths { lines.append("  file      \(f)") }
        lines.append("config      \(checkpoint.configPath ?? "(none)")")
        lines.append("parameters \(TextNumber.grouped(parameterCount)) in \(checkpoint.tensors.count) tensors")
        for (d, b) in bytesPerDType { lines.append("  \(d.rawValue.padding(toLength: 6))  \(TextNumber.bytesWithSize(b))") }
        if let r = recognition {
            let a = r.architecture
            lines.append("model       attention \(a.attention.rawValue), FFN \(a.ffnLayout.rawValue), router norm \(a.routerNorm?.rawValue ?? "-")")
            lines.append("  hidden \(a.hiddenSize), layers \(a.numLayers), vocab \(a.vocabSize), heads \(a.numAttentionHeads.map(String.init) ?? "?")"
                         + (a.numKeyValueHeads.map { " (kv \($0))" } ?? "") + ", tied embeddings \(a.tiedEmbeddings ? "yes" : "no")")
            if let m = a.mla {
                lines.append("  MLA q_lora \(m.qLoraRank), kv_lora \(m.kvLoraRank), nope \(m.qkNopeHeadDim.map(String.init) ?? "?"), rope \(m.qkRopeHeadDim), v \(m.vHeadDim.map(String.init) ?? "?")")
            }
            if a.ffnLayout == .vanilla {
                lines.append("  dense FFN width \(a.expertSize)")
            } else {
                lines.append("experts     \(a.numExperts) x \(a.expertSize) per layer")
            }
            if let g = r.expertGeometry {
                lines.append("  up   \(g.upTensor): \(g.upPlacement) (\(g.upContiguous ? "contiguous" : "not contiguous"))")
                lines.append("  down \(g.downTensor): \(g.downPlacement) (\(g.downContiguous ? "contiguous" : "not contiguous"))")
            }
        } else if let e = recognitionError {
            lines.append("model       not recognised: \(e)")
        }
        for w in warnings { lines.append("warning: \(w)") }
        if includeTensors {
            let width = checkpoint.tensors.map(\.name.count).max() ?? 4
            lines.append("")
            lines.append("\("name".padding(toLength: width))  dtype   shape                bytes")
            for t in checkpoint.tensors {
                lines.append("\(t.name.padding(toLength: width))  \(t.dtype.rawValue.padding(toLength: 6))  \(Shape.describe(t.shape).padding(toLength: 19))  \(TextNumber.bytesWithSize(UInt64(t.byteCount)))\(t.isContiguous ? "" : "  (strided)")")
            }
        }
        return lines.joined(separator: "\n")
    }

}
