import BFFNCore
import BFFNKernels
import BFFNModel
import BFFNSafetensors

/// Writes a `.bfpk` back out as a standard checkpoint: `config.json` and `model.safetensors` with the
/// published tensor names, streaming one tensor at a time.
public enum PackExporter {
    /// The expert tensor layout to export.
    public enum Layout: String, Sendable, CaseIterable {
        /// `mlp.up_proj` [E·de, H], `mlp.down_proj` [H, E·de] (what the published models ship).
        case blockLinear = "block_linear"
        /// `mlp.up_proj` [E, de, H], `mlp.down_proj` [E, H, de].
        case block
    }

    /// Exports `pack` into `folder` (created if needed). Experts are written in their source order (the
    /// pack's permutation undone), so a pack in the source's dtype exports the source's tensors byte for byte.
    /// - Parameter dtype: the float type every tensor is written in (F32, F16 or BF16, rounded to nearest even);
    ///   nil writes each float tensor in its stored type and quantized ones dequantized as F32.
    /// - Throws: `.usage` for another dtype; `.outputExists` without `overwrite`; write errors.
    /// - Parameter progress: called with (tensors written, tensors in all).
    public static func export(_ pack: PackFile, to folder: String, layout: Layout, overwrite: Bool, dtype: DType? = nil,
                              progress: (UInt64, UInt64) -> Void = { _, _ in }) throws {
        let target: StorageType? = try dtype.map {
            guard let t = StorageType($0) else { throw BFFNError(.usage, "export writes F32, F16 or BF16, not \($0.rawValue)", field: "dtype") }
            return t
        }
        mkdir(folder, 0o755)
        let a = pack.architecture
        let names = TensorNames.published
        /// The layer whose router (or router norm) `name` is, when it is one.
        func routerLayer(_ name: String, normOnly: Bool = false) -> Int? {
            for l in 0..<a.numLayers where (!normOnly && name == names.layer(l) + names.router) || name == names.layer(l) + names.routerNorm {
                return l
            }
            return nil
        }
        var decls: [(name: String, dtype: DType, shape: [Int])] = []
        var writers: [((UnsafeRawBufferPointer) throws -> Void) throws -> Void] = []
        /// The exported dtype: the storage's own float type, F32 for quantized storage (dequantized).
        func exportType(_ t: StorageType) -> DType { target?.dtype ?? t.dtype ?? .f32 }
        /// Row r, columns of `m`, in the exported dtype: a byte copy when the storage is that type already.
        func rowBytes(_ m: WeightMatrix, _ r: Int) -> [UInt8] {
            if let target, target != m.type { return WeightQuantizer.encode(m.rowValues(r), as: target).bytes }
            if m.type.isFloat { return Array(UnsafeRawBufferPointer(start: m.row(r), count: m.cols * m.type.size)) }
            var out: [UInt8] = []
            out.reserveCapacity(m.cols * 4)
            for c in 0..<m.cols { withUnsafeBytes(of: m.element(r, c).bitPattern.littleEndian) { out += $0 } }
            return out
        }
        for t in pack.tensors {
            let rows = t.shape.count >= 2 ? t.shape[0] : 1
            let m = WeightMatrix(base: pack.file.bytes.baseAddress! + Int(t.offset), type: t.storage, rows: rows,
                                 cols: t.shape.count >= 2 ? t.shape.dropFirst().reduce(1, *) : (t.shape.first ?? 1))
            decls.append((t.name, exportType(t.storage), t.shape))
            // Router rows and router-norm weights are stored in slot order: write them back in source order.
            var sourceToSlot: [Int]?
            if let e = pack.experts, let l = routerLayer(t.name), e.order[l] != Array(0..<e.count) {
                var inverse = [Int](repeating: 0, count: e.count)
                for (s, x) in e.order[l].enumerated() { inverse[x] = s }
                sourceToSlot = inverse
            }
            writers.append { emit in
                if let inv = sourceToSlot, m.rows == 1, m.type.isFloat, target == nil || target == m.type {
                    let size = m.type.size
                    var out = [UInt8](repeating: 0, count: m.cols * size)
                    for x in 0..<m.cols {
                        out.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: x * size).copyMemory(from: m.row(0) + inv[x] * size, byteCount: size) }
                    }
                    try out.withUnsafeBytes { try emit($0) }
                } else if let inv = sourceToSlot {
                    for x in 0..<m.rows { try rowBytes(m, inv[x]).withUnsafeBytes { try emit($0) } }
                } else {
                    for r in 0..<m.rows { try rowBytes(m, r).withUnsafeBytes { try emit($0) } }
                }
            }
            // The experts of a layer follow its router norm (or router), as the published files order them.
            guard let e = pack.experts, let l = a.routerNorm == .rms ? routerLayer(t.name, normOnly: true) : routerLayer(t.name),
                  t.name == names.layer(l) + (a.routerNorm == .rms ? names.routerNorm : names.router) else { continue }
            let H = e.hiddenSize, de = e.expertSize
            var slotOf = [Int](repeating: 0, count: e.count)
            for (s, src) in e.order[l].enumerated() { slotOf[src] = s }
            func up(_ x: Int) -> WeightMatrix {
                WeightMatrix(base: pack.file.bytes.baseAddress! + Int(e.blockOffset(layer: l, slot: slotOf[x])), type: e.upStorage, rows: de, cols: H)
            }
            func down(_ x: Int) -> WeightMatrix {
                WeightMatrix(base: pack.file.bytes.baseAddress! + Int(e.blockOffset(layer: l, slot: slotOf[x]) + e.upBytes),
                             type: e.downStorage, rows: H, cols: de)
            }
            let expertNames = names.experts(.blockLinear, layer: l)!
            decls.append((expertNames.up, exportType(e.upStorage), layout == .block ? [e.count, de, H] : [e.count * de, H]))
            writers.append { emit in
                for x in 0..<e.count { let m = up(x); for r in 0..<de { try rowBytes(m, r).withUnsafeBytes { try emit($0) } } }
            }
            decls.append((expertNames.down, exportType(e.downStorage), layout == .block ? [e.count, H, de] : [H, e.count * de]))
            writers.append { emit in
                if layout == .block {
                    for x in 0..<e.count { let m = down(x); for j in 0..<H { try rowBytes(m, j).withUnsafeBytes { try emit($0) } } }
                } else {
                    // Row j of [H, E·de]: output j's segment of every expert, in source order.
                    let downs = (0..<e.count).map(down)
                    for j in 0..<H {
                        var row: [UInt8] = []
                        for m in downs { row += rowBytes(m, j) }
                        try row.withUnsafeBytes { try emit($0) }
                    }
                }
            }
        }
        let w = try SafetensorsStreamWriter(path: folder + "/model.safetensors", tensors: decls,
                                            metadata: [("format", "pt"), ("producer", "bffn export")], overwrite: overwrite)
        for (i, write) in writers.enumerated() {
            try w.writeTensor(write)
            progress(UInt64(i + 1), UInt64(writers.count))
        }
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

    /// `bffn export --json` (docs/json.md, "export"): the folder, the layout, the dtype asked for (lower case; null: each
    /// tensor's own, or F32 for quantized ones) and the files written.
    public static func json(folder: String, layout: Layout, dtype: DType?) -> JSONValue {
        .object([("output", .string(folder)), ("layout", .string(layout.rawValue)), ("dtype", dtype.map { .string($0.rawValue.lowercased()) } ?? .null),
                 ("files", .array([.string(folder + "/config.json"), .string(folder + "/model.safetensors")]))])
    }
}
