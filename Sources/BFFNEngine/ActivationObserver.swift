/// Where an input activation of a weight product comes from: the sites an `ActivationObserver` sees. Each site
/// is the input of one or more matrices (e.g. the attention input feeds MLA's q_a and kv_a projections).
public enum ActivationSite: Hashable, Sendable {
    /// The input-normed hidden state of `layer`: MLA q_a and kv_a, GQA q, k and v.
    case attentionInput(layer: Int)
    /// MLA: the normed query latent (q_b's input).
    case queryLatent(layer: Int)
    /// MLA: the normed key/value latent (kv_b's input).
    case keyValueLatent(layer: Int)
    /// The attention heads' concatenated outputs (the output projection's input).
    case attentionOutput(layer: Int)
    /// The post-attention-normed hidden state: the router's and a dense FFN's gate and up input.
    case ffnInput(layer: Int)
    /// A dense FFN's SiLU(gate) ⊙ up (its down projection's input).
    case denseIntermediate(layer: Int)
    /// The FFN input of exactly the tokens for which source expert `expert` is active (its up projection's input).
    case expertUp(layer: Int, expert: Int)
    /// That expert's gated intermediate activations, SiLU(up · x) · score, for those tokens (its down input).
    case expertDown(layer: Int, expert: Int)
    /// The final-normed hidden state divided by the head scale (the LM head's input).
    case head
}

/// Sees the float32 inputs of every weight product of a forward pass, at the site where the engine computes
/// them (before any int8 or bf16 quantization of activations). Called on the calling thread, in the forward
/// pass's fixed order (layer by layer; experts in source order within each chunk of tokens), so what it
/// accumulates does not depend on the thread count. Used by calibration (`bffn calibrate`); nil costs nothing.
public protocol ActivationObserver: AnyObject {
    /// `tokens` rows of `width` values at `values` (row-major) reached `site`.
    func observe(_ site: ActivationSite, _ values: UnsafePointer<Float>, tokens: Int, width: Int)
}

extension ActivationObserver {
    /// Calls `observe` with an array's rows.
    func observe(_ site: ActivationSite, _ values: [Float], tokens: Int, width: Int) {
        guard tokens > 0 else { return }
        values.withUnsafeBufferPointer { observe(site, $0.baseAddress!, tokens: tokens, width: width) }
    }
}
