/// The shapes of a synthetic checkpoint: the published BlockFFN architectures (docs/model.md, "Configuration keys") and a
/// tiny one for tests.
public struct SynthPreset: Sendable, Equatable {
    public var name: String
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    /// nil for MLA; the KV head count for GQA.
    public var kvHeads: Int?
    public var experts: Int
    public var expertSize: Int
    public var vocabSize: Int
    public var qLoraRank = 768, kvLoraRank = 256, nopeDim = 128, ropeDim = 64
    /// dim_model_base (the LM head divisor is hidden / this).
    public var dimModelBase = 256

    /// True for MLA attention.
    public var isMLA: Bool { kvHeads == nil }

    /// The presets' names, smallest first: the spellings `bffn synth --preset` takes.
    public static let names = ["tiny", "small", "medium", "large", "xlarge", "3b"]

    /// Every preset by name (`names`).
    public static let all: [String: SynthPreset] = {
        var tiny = SynthPreset(name: "tiny", hiddenSize: 128, layers: 4, heads: 4, kvHeads: nil, experts: 16, expertSize: 32, vocabSize: 512)
        tiny.qLoraRank = 64; tiny.kvLoraRank = 32; tiny.nopeDim = 16; tiny.ropeDim = 16; tiny.dimModelBase = 32
        return [
            "tiny": tiny,
            "small": SynthPreset(name: "small", hiddenSize: 768, layers: 16, heads: 6, kvHeads: nil, experts: 48, expertSize: 64, vocabSize: 122753),
            "medium": SynthPreset(name: "medium", hiddenSize: 1280, layers: 27, heads: 10, kvHeads: nil, experts: 40, expertSize: 128, vocabSize: 122753),
            "large": SynthPreset(name: "large", hiddenSize: 1536, layers: 32, heads: 12, kvHeads: nil, experts: 48, expertSize: 128, vocabSize: 122753),
            "xlarge": SynthPreset(name: "xlarge", hiddenSize: 1792, layers: 35, heads: 14, kvHeads: nil, experts: 56, expertSize: 128, vocabSize: 122753),
            "3b": SynthPreset(name: "3b", hiddenSize: 2048, layers: 36, heads: 16, kvHeads: 4, experts: 128, expertSize: 128, vocabSize: 73440),
        ]
    }()
}
