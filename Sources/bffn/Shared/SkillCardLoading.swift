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
