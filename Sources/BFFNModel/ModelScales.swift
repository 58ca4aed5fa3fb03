import BFFNCheckpoint

/// The three scales a MiniCPM-style model takes from config.json (docs/model.md, "The forward pass"): the one
/// home of their derivation, read by the engine and by the EAGLE drafter (which embeds and projects with the
/// target's embedding and head).
public struct ModelScales: Sendable, Equatable {
    /// Embedding rows are multiplied by this: `scale_emb` (1 when absent).
    public var embedding: Float
    /// Each residual branch (attention, FFN) is multiplied by this before it is added: `scale_depth / √L` (1 / √L
    /// when `scale_depth` is absent).
    public var residual: Float
    /// The final normed hidden state is divided by this before the LM head: `hidden_size / dim_model_base`
    /// (`hidden_size` when `dim_model_base` is absent).
    public var head: Float

    /// The scales of a model of `hiddenSize` and `layers` configured by `config`.
    public init(config c: ModelConfig, hiddenSize: Int, layers: Int) {
        embedding = Float(c.scaleEmb ?? 1)
        residual = Float((c.scaleDepth ?? 1) / Double(layers).squareRoot())
        head = Float(Double(hiddenSize) / (c.dimModelBase ?? 1))
    }
}

extension ModelWeights {
    /// The model's embedding, residual and head scales (`ModelScales`) from its config and architecture.
    public var scales: ModelScales { ModelScales(config: config, hiddenSize: architecture.hiddenSize, layers: architecture.numLayers) }
}
