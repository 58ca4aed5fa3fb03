import BFFNCore
import BFFNModel

/// What `bffn inspect` reports for a skill-card layer (the educational single BlockFFN layer), as JSON and text.
public struct SkillCardInspection {
    public let layer: SkillCardLayer
    /// The container format (`bfpk`, `safetensors`, ...) and the files read.
    public let format: String, files: [String]

    /// A summary of `layer`, read as `format` from `files`.
    public init(layer: SkillCardLayer, format: String, files: [String]) {
        self.layer = layer
        self.format = format
        self.files = files
    }

    static let note = "an educational single layer (the BlockFFN skill card): its gates are sigmoid(sharpness x score), never zero, so every expert is computed for every token"

    /// `bffn inspect --json` for a skill-card layer (docs/json.md, "inspect (skill-card layer)").
    public var json: JSONValue {
        .object([
            ("format", .string(format)), ("kind", "skill_card_layer"), ("files", .array(files.map { .string($0) })),
            ("hidden_size", .integer(layer.hiddenSize)), ("num_experts", .integer(layer.experts)), ("expert_size", .integer(layer.expertSize)),
            ("sharpness", .double(layer.sharpness)), ("parameters", .integer(layer.parameterCount)), ("note", .string(Self.note)),
        ])
    }

    /// The text `bffn inspect` prints.
    public var text: String {
        """
        format      \(format) (\(files.count) file\(files.count == 1 ? "" : "s"))
        layer       skill-card BlockFFN layer: hidden \(layer.hiddenSize), \(layer.experts) experts of \(layer.expertSize) (fc1/fc2 with biases), \
        router sharpness \(layer.sharpness), LayerNorm output
        parameters  \(layer.parameterCount)
        note        \(Self.note)
        """
    }
}
