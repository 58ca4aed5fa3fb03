import BFFNCore
import BFFNModel
import BFFNSafetensors
import BFFNTestSupport
import BFFNTorchZip

/// Writes EAGLE heads in the published layout for tests: random ones for any hidden size, or copies of the trained
/// head in another container.
enum EagleHeadFiles {
    /// A head's shape as config.json gives it.
    struct Shape {
        var hidden: Int, layers = 2, heads = 2, kvHeads = 1, headDim = 8, intermediate = 16
    }

    /// The tensors of `EagleHead.tensorNames` with their shapes.
    static func shapes(_ s: Shape) -> [(String, [Int])] {
        let q = s.heads * s.headDim, kv = s.kvHeads * s.headDim, H = s.hidden
        return EagleHead.tensorNames(layers: s.layers).map { name in
            if name == "fc.weight" { return (name, [H, 2 * H]) }
            if name.hasSuffix("q_proj.weight") { return (name, [q, H]) }
            if name.hasSuffix("k_proj.weight") || name.hasSuffix("v_proj.weight") { return (name, [kv, H]) }
            if name.hasSuffix("o_proj.weight") { return (name, [H, q]) }
            if name.hasSuffix("gate_proj.weight") || name.hasSuffix("up_proj.weight") { return (name, [s.intermediate, H]) }
            if name.hasSuffix("down_proj.weight") { return (name, [H, s.intermediate]) }
            return (name, [H]) // fc.bias and the norms
        }
    }

    static func config(_ s: Shape, dropping: String? = nil) -> String {
        let keys: [(String, Int)] = [("hidden_size", s.hidden), ("num_hidden_layers", s.layers), ("intermediate_size", s.intermediate),
                                     ("num_attention_heads", s.heads), ("num_key_value_heads", s.kvHeads), ("head_dim", s.headDim)]
        return "{" + keys.filter { $0.0 != dropping }.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + ", \"rope_theta\": 10000.0}"
    }

    /// A random float32 head (norm weights near 1, other weights ~ N(0, 0.2)) in `dir` as model.safetensors.
    /// `extra` adds tensors; `configDropping` leaves a config key out.
    @discardableResult
    static func writeRandom(_ dir: TemporaryDirectory, _ s: Shape, seed: UInt64 = 7, extra: [SafetensorsWriter.Tensor] = [],
                            configDropping: String? = nil) throws -> String {
        var rng = SplitMix64(seed: seed)
        var tensors: [SafetensorsWriter.Tensor] = []
        for (name, shape) in shapes(s) {
            let n = shape.reduce(1, *)
            let isNorm = name.contains("norm")
            let values: [Float] = (0..<n).map { _ in isNorm ? 1 + 0.1 * rng.gaussian() : 0.2 * rng.gaussian() }
            tensors.append(.init(name: name, dtype: .f32, shape: shape, bytes: values.withUnsafeBytes { Array($0) }))
        }
        try SafetensorsWriter.write(tensors + extra, to: dir.file("model.safetensors"))
        _ = try dir.write("config.json", text: config(s, dropping: configDropping))
        return dir.path
    }

    /// The trained head's tensors and config.json copied into `dir` as a `pytorch_model.bin` (same bytes).
    static func copyTrainedAsBin(_ dir: TemporaryDirectory) throws -> String {
        let source = try SafetensorsFile(path: Fixtures.trainedEagle + "/model.safetensors")
        let entries = source.entries
        let w = try TorchCheckpointWriter(path: dir.file("pytorch_model.bin"), tensors: entries.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
                                          overwrite: false)
        for e in entries {
            let bytes = Array(source.bytes(of: e))
            try w.writeTensor { sink in try bytes.withUnsafeBytes { try sink($0) } }
        }
        try w.finish()
        _ = try dir.write("config.json", Fixtures.bytes(Fixtures.trainedEagle + "/config.json"))
        return dir.path
    }
}
