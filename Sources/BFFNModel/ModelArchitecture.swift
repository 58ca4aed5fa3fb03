import BFFNCore

/// What a checkpoint is, recognised from its tensor names and shapes (docs/model.md, decisions 1-4) plus config.json.
public struct ModelArchitecture: Sendable, Equatable {
    /// The attention variant.
    public enum Attention: String, Sendable { case mla, gqa }

    /// How the FFN weights are named and laid out (docs/model.md, decision 1).
    public enum FFNLayout: String, Sendable, Hashable {
        /// `mlp.up_proj` [E·de, H], `mlp.down_proj` [H, E·de]: what the published models ship.
        case blockLinear = "block_linear"
        /// `mlp.up_proj` [E, de, H], `mlp.down_proj` [E, H, de].
        case block
        /// `mlp.experts.up_proj.weight` [E, de, H], `mlp.experts.down_proj.weight` [E, H, de].
        case fastmoe
        /// `mlp.mlp.up_proj` [E·de, H], `mlp.mlp.down_proj` [E·de, H] (down stored transposed).
        case megablocks
        /// Training-side names (`encoder.layers.{l}.ffn.ffn.moe_experts.moe_w_in` ...).
        case bmt
        /// A dense gated-SiLU FFN (`mlp.gate_proj/up_proj/down_proj.weight`).
        case vanilla
    }

    /// The router normalisation (docs/model.md, decision 2).
    public enum RouterNorm: String, Sendable { case rms, sum, none }

    public var attention: Attention
    public var ffnLayout: FFNLayout
    /// nil for the dense `vanilla` layout.
    public var routerNorm: RouterNorm?
    public var hiddenSize: Int
    public var numLayers: Int
    /// E (0 for vanilla).
    public var numExperts: Int
    /// de, the width of one expert (for vanilla: the dense intermediate width).
    public var expertSize: Int
    public var vocabSize: Int
    /// nh; nil when no config.json says it.
    public var numAttentionHeads: Int?
    /// nkv for GQA (equals nh for MHA); nil for MLA or without config.
    public var numKeyValueHeads: Int?
    /// GQA head width; nil for MLA or without config.
    public var headDim: Int?
    /// MLA dims; nil for GQA.
    public var mla: MLADims?
    public var tiedEmbeddings: Bool

    /// Creates an architecture description (the recognizer and packed files build these).
    public init(attention: Attention, ffnLayout: FFNLayout, routerNorm: RouterNorm?, hiddenSize: Int, numLayers: Int,
                numExperts: Int, expertSize: Int, vocabSize: Int, numAttentionHeads: Int?, numKeyValueHeads: Int?,
                headDim: Int?, mla: MLADims?, tiedEmbeddings: Bool) {
        self.attention = attention
        self.ffnLayout = ffnLayout
        self.routerNorm = routerNorm
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numExperts = numExperts
        self.expertSize = expertSize
        self.vocabSize = vocabSize
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim
        self.mla = mla
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// MLA widths.
    public struct MLADims: Sendable, Equatable {
        public var qLoraRank: Int
        public var kvLoraRank: Int
        /// nil without config.json.
        public var qkNopeHeadDim: Int?
        public var qkRopeHeadDim: Int
        /// H / nh (docs/model.md, decision 4); nil without config.json.
        public var vHeadDim: Int?

        /// Creates MLA dims.
        public init(qLoraRank: Int, kvLoraRank: Int, qkNopeHeadDim: Int?, qkRopeHeadDim: Int, vHeadDim: Int?) {
            self.qLoraRank = qLoraRank
            self.kvLoraRank = kvLoraRank
            self.qkNopeHeadDim = qkNopeHeadDim
            self.qkRopeHeadDim = qkRopeHeadDim
            self.vHeadDim = vHeadDim
        }
    }
}

/// Where one expert's weights live in the stored tensors.
public struct ExpertGeometry: Sendable, Equatable {
    /// The tensor holding up-projection rows.
    public var upTensor: String
    /// Element offset of expert e's first up element is `e * upExpertStride`.
    public var upExpertStride: Int
    /// True when one expert's up weights are one contiguous run of elements.
    public var upContiguous: Bool
    /// The tensor holding down-projection weights.
    public var downTensor: String
    /// Human description of expert e's down weights.
    public var downPlacement: String
    /// True when one expert's down weights are one contiguous run of elements.
    public var downContiguous: Bool
    /// Human description of expert e's up weights.
    public var upPlacement: String
}
