import ArgumentParser
import BFFNCheckpoint
import BFFNCore
import BFFNModel
import BFFNPack

/// `--sharpness`: the skill-card layer's router sharpness when its config.json does not give one.
struct SkillCardOptions: ParsableArguments {
    @Option(help: "For a skill-card BlockFFN layer: the router's sigmoid sharpness (default: config.json's `sharpness`, else 1.0).")
    var sharpness: Double?

    /// The skill-card layer at `path` (a checkpoint whose tensors are the card's layer, or a layer pack), or nil when
    /// `path` is something else.
    /// - Throws: the readers' errors for a layer that is damaged.
    func layer(at path: String) throws -> (layer: SkillCardLayer, format: String, files: [String])? {
        if PackFile.isPack(path: path) {
            guard SkillCardPack.isLayerPack(path: path) else { return nil }
            var layer = try SkillCardPack.read(path: path)
            if let sharpness { layer.sharpness = sharpness }
            return (layer, "bfpk", [path])
        }
        guard let checkpoint = try? Checkpoint(path: path), SkillCardLayer.recognizes(checkpoint) else { return nil }
        return (try SkillCardLayer(checkpoint: checkpoint, sharpness: sharpness), checkpoint.format.rawValue, checkpoint.filePaths)
    }
}

/// The summary `inspect` prints for a skill-card layer.
func skillCardSummary(_ layer: SkillCardLayer, format: String, files: [String]) -> (json: JSONValue, text: String) {
    let note = "an educational single layer (the BlockFFN skill card): its gates are sigmoid(sharpness x score), never zero, so every expert is computed for every token"
    let json: JSONValue = .object([
        ("format", .string(format)), ("kind", "skill_card_layer"), ("files", .array(files.map { .string($0) })),
        ("hidden_size", .integer(layer.hiddenSize)), ("num_experts", .integer(layer.experts)), ("expert_size", .integer(layer.expertSize)),
        ("sharpness", .double(layer.sharpness)), ("parameters", .integer(layer.parameterCount)), ("note", .string(note)),
    ])
    let text = """
    format      \(format) (\(files.count) file\(files.count == 1 ? "" : "s"))
    layer       skill-card BlockFFN layer: hidden \(layer.hiddenSize), \(layer.experts) experts of \(layer.expertSize) (fc1/fc2 with biases), \
    router sharpness \(layer.sharpness), LayerNorm output
    parameters  \(layer.parameterCount)
    note        \(note)
    """
    return (json, text)
}
