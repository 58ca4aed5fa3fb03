import BFFNCore
import BFFNSafetensors

/// Writes a `.bfpk` back out as a standard checkpoint: `config.json` and `model.safetensors` with the
/// published tensor names, streaming one tensor at a time.
public enum PackExporter {
    /// The expert tensor layout to export.
    public enum Layout: String, Sendable {
        /// `mlp.up_proj` [E·de, H], `mlp.down_proj` [H, E·de] (what the published models ship).
        case blockLinear = "block_linear"
        /// `mlp.up_proj` [E, de, H], `mlp.down_proj` [E, H, de].
        case block
    }

    /// Exports `pack` into `folder` (created if needed). Experts are written in their source order (the
    /// pack's permutation undone), so a pack in the source's dtype exports the source's tensors byte for byte.
    /// - Throws: `.outputExists` without `overwrite`; write errors.
    public static func export(_ pack: PackFile, to folder: String, layout: Layout, overwrite: Bool) throws {
        mkdir(folder, 0o755)
        let a = pack.architecture
        var decls: [(name: String, dtype: DType, shape: [Int])] = []
        var writers: [((UnsafeRawBufferPointer) throws -> Void) throws -> Void] = []
        for t in pack.tensors {
            decls.append((t.name, t.dtype, t.shape))
            writers.append { emit in try pack.bytes(at: t.offset, count: t.bytes).withBytes { try emit($0) } }
            // The experts of a layer follow its router norm (or router), as the published files order them.
            guard let e = pack.experts, t.name.hasSuffix(a.routerNorm == .rms ? "mlp.router_norm.weight" : "mlp.router_proj.weight"),
                  let l = Int(t.name.split(separator: ".")[2]) else { continue }
            let H = e.hiddenSize, de = e.expertSize, size = e.dtype.bitWidth / 8
            var slotOf = [Int](repeating: 0, count: e.count)
            for (s, src) in e.order[l].enumerated() { slotOf[src] = s }
            let upShape = layout == .block ? [e.count, de, H] : [e.count * de, H]
            let downShape = layout == .block ? [e.count, H, de] : [H, e.count * de]
            decls.append(("model.layers.\(l).mlp.up_proj", e.dtype, upShape))
            writers.append { emit in
                for x in 0..<e.count {
                    try pack.bytes(at: e.blockOffset(layer: l, slot: slotOf[x]), count: UInt64(de * H * size)).withBytes { try emit($0) }
                }
            }
            decls.append(("model.layers.\(l).mlp.down_proj", e.dtype, downShape))
            writers.append { emit in
                let downBytes = UInt64(H * de * size)
                if layout == .block {
                    for x in 0..<e.count {
                        try pack.bytes(at: e.blockOffset(layer: l, slot: slotOf[x]) + downBytes, count: downBytes).withBytes { try emit($0) }
                    }
                } else {
                    // Row j of [H, E·de]: output j's segment of every expert, in source order.
                    var row = [UInt8](repeating: 0, count: e.count * de * size)
                    for j in 0..<H {
                        for x in 0..<e.count {
                            let src = e.blockOffset(layer: l, slot: slotOf[x]) + downBytes + UInt64(j * de * size)
                            pack.bytes(at: src, count: UInt64(de * size)).withBytes { b in
                                row.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: x * de * size).copyMemory(from: b.baseAddress!, byteCount: b.count) }
                            }
                        }
                        try row.withUnsafeBytes { try emit($0) }
                    }
                }
            }
        }
        let w = try SafetensorsStreamWriter(path: folder + "/model.safetensors", tensors: decls,
                                            metadata: [("format", "pt"), ("producer", "bffn export")], overwrite: overwrite)
        for write in writers { try w.writeTensor(write) }
        try w.finish()
        var config = pack.config.raw
        if case .object(var m) = config, pack.experts != nil {
            if let i = m.firstIndex(where: { $0.key == "ffn_type" }) { m[i].value = .string(layout.rawValue) } else { m.append(JSONMember("ffn_type", .string(layout.rawValue))) }
            config = .object(m)
        }
        try writeFileAtomically(folder + "/config.json", Array((config.serialized(pretty: true) + "\n").utf8), overwrite: true)
        for at in pack.attachments where !at.name.contains("/") && at.name != "config.json" && at.name != "model.safetensors" {
            try writeFileAtomically(folder + "/" + at.name, pack.bytes(at: at.offset, count: at.bytes).contents, overwrite: overwrite)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
