import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack

/// Gathers Σx² per input column and the token count at every activation site of the forward passes it observes
/// (`Engine.activationObserver`), in float64, in the order the engine reports them (deterministic).
public final class ActivationCollector: ActivationObserver {
    /// Per site: Σx² per column, and the tokens (rows) seen.
    public private(set) var sums: [ActivationSite: [Double]] = [:]
    public private(set) var counts: [ActivationSite: Int] = [:]

    public init() {}

    public func observe(_ site: ActivationSite, _ values: UnsafePointer<Float>, tokens: Int, width: Int) {
        var s = sums[site] ?? [Double](repeating: 0, count: width)
        precondition(s.count == width, "site \(site) seen with widths \(s.count) and \(width)")
        for t in 0..<tokens {
            let row = values + t * width
            for j in 0..<width { s[j] += Double(row[j]) * Double(row[j]) }
        }
        sums[site] = s
        counts[site, default: 0] += tokens
    }

    /// The statistics of what was observed, for a model of `weights`: each dense matrix's site mean under its
    /// published name, every layer's experts blended with the prior of strength `priorTokens` (formats/calibration.md):
    /// an expert seen on n tokens gets (Σx² + k·prior) / (n + k) per column, where the up projection's prior is the
    /// layer's mean over all its expert-token pairs per column (one hidden space) and the down projection's the
    /// layer's mean over all pairs and columns (different experts' intermediate columns are different neurons);
    /// a layer without any active pair takes its FFN input's mean (up) and 1 (down).
    public func statistics(for weights: ModelWeights, sequences: Int, tokens: Int, priorTokens: Int,
                           sources: [String]) -> ActivationStatistics {
        func mean(_ site: ActivationSite) -> [Float]? {
            guard let s = sums[site], let n = counts[site], n > 0 else { return nil }
            return s.map { Float($0 / Double(n)) }
        }
        let a = weights.architecture, n = TensorNames.published
        var dense: [ActivationStatistics.Dense] = []
        func add(_ name: String, _ site: ActivationSite) {
            if let m = mean(site) { dense.append(.init(name: name, meanSquares: m)) }
        }
        var expertLayers: [ActivationStatistics.ExpertLayer] = []
        for (l, lw) in weights.layers.enumerated() {
            let p = n.layer(l)
            switch lw.attention {
            case .mla:
                add(p + n.qA, .attentionInput(layer: l))
                add(p + n.qB, .queryLatent(layer: l))
                add(p + n.kvA, .attentionInput(layer: l))
                add(p + n.kvB, .keyValueLatent(layer: l))
                add(p + n.mlaOutput, .attentionOutput(layer: l))
            case .gqa:
                for name in [n.q, n.k, n.v] { add(p + name, .attentionInput(layer: l)) }
                add(p + n.gqaOutput, .attentionOutput(layer: l))
            }
            switch lw.ffn {
            case .dense:
                add(p + n.gate, .ffnInput(layer: l))
                add(p + n.denseUp, .ffnInput(layer: l))
                add(p + n.denseDown, .denseIntermediate(layer: l))
            case .experts(let x):
                add(p + n.router, .ffnInput(layer: l))
                let E = a.numExperts, H = a.hiddenSize, de = x.up.first?.rows ?? a.expertSize
                let tokensPerExpert = (0..<E).map { counts[.expertUp(layer: l, expert: $0)] ?? 0 }
                let pairs = tokensPerExpert.reduce(0, +)
                var upPrior = [Double](repeating: 0, count: H), downTotal = 0.0
                for e in 0..<E {
                    if let s = sums[.expertUp(layer: l, expert: e)] { for j in 0..<H { upPrior[j] += s[j] } }
                    if let s = sums[.expertDown(layer: l, expert: e)] { for v in s { downTotal += v } }
                }
                if pairs > 0 {
                    upPrior = upPrior.map { $0 / Double(pairs) }
                } else {
                    upPrior = (mean(.ffnInput(layer: l)) ?? [Float](repeating: 1, count: H)).map(Double.init)
                }
                let downPrior = pairs > 0 ? downTotal / Double(pairs * de) : 1
                let k = Double(priorTokens)
                func blend(_ s: [Double]?, _ count: Int, prior: (Int) -> Double, width: Int) -> [Float] {
                    (0..<width).map { j in
                        let own = s?[j] ?? 0
                        return count + priorTokens > 0 ? Float((own + k * prior(j)) / (Double(count) + k)) : Float(prior(j))
                    }
                }
                expertLayers.append(.init(
                    layer: l, tokens: tokensPerExpert,
                    up: (0..<E).map { blend(sums[.expertUp(layer: l, expert: $0)], tokensPerExpert[$0], prior: { upPrior[$0] }, width: H) },
                    down: (0..<E).map { blend(sums[.expertDown(layer: l, expert: $0)], tokensPerExpert[$0], prior: { _ in downPrior }, width: de) }))
            }
        }
        // The LM head reads the final-normed state; a tied head is the embedding matrix.
        add(a.tiedEmbeddings ? n.embedding : n.head, .head)
        return ActivationStatistics(sequences: sequences, tokens: tokens, priorTokens: priorTokens, sources: sources, dense: dense,
                                    expertLayers: expertLayers)
    }
}

/// `bffn calibrate`: runs calibration token windows through a model and returns its activation statistics.
public enum Calibrator {
    /// The prior strength, in tokens, when none is given: an expert needs 32 tokens of its own to outweigh the
    /// layer's average by half.
    public static let defaultPriorTokens = 32

    /// Cuts `tokens` into consecutive windows of `context` tokens (each after `bos` when given), as `verify --text`
    /// does, keeping a short last window only when it is the only one.
    public static func windows(_ tokens: [Int], context: Int, bos: Int?) -> [[Int]] {
        let body = max(1, bos == nil ? context : context - 1)
        var w: [[Int]] = stride(from: 0, to: tokens.count, by: body).map { (bos.map { [$0] } ?? []) + tokens[$0..<min(tokens.count, $0 + body)] }
        if w.count > 1 && w[w.count - 1].count < context { w.removeLast() }
        return w
    }

    /// Runs every window through `engine` (each from an empty cache) with a collector attached and returns the
    /// statistics; `progress` gets (windows done, windows).
    /// - Throws: `.usage` without windows or for a negative prior; the engine's errors (an id outside the vocabulary).
    public static func run(_ engine: Engine, windows: [[Int]], priorTokens: Int = defaultPriorTokens, sources: [String],
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> ActivationStatistics {
        guard !windows.isEmpty, windows.allSatisfy({ !$0.isEmpty }) else {
            throw BFFNError(.usage, "calibration needs at least one non-empty token window", field: "text")
        }
        guard priorTokens >= 0 else { throw BFFNError(.usage, "the prior must be >= 0 tokens, not \(priorTokens)", field: "prior-tokens") }
        let collector = ActivationCollector()
        let saved = engine.activationObserver
        engine.activationObserver = collector
        defer { engine.activationObserver = saved }
        for (i, w) in windows.enumerated() {
            engine.reset()
            _ = try engine.forward(w)
            progress(i + 1, windows.count)
        }
        engine.reset()
        return collector.statistics(for: engine.weights, sequences: windows.count, tokens: windows.reduce(0) { $0 + $1.count },
                                    priorTokens: priorTokens, sources: sources)
    }
}

extension ActivationStatistics {
    /// The summary `bffn calibrate --json` prints (docs/json.md, "calibrate"): `sequences`, `tokens`, `prior_tokens`,
    /// `sources`, `dense_matrices`, `expert_layers`, per layer `expert_tokens`, and `under_calibrated`
    /// [{`layer`, `expert`, `tokens`}].
    public var json: JSONValue {
        .object([
            ("sequences", .integer(sequences)), ("tokens", .integer(tokens)), ("prior_tokens", .integer(priorTokens)),
            ("sources", .array(sources.map { .string($0) })), ("dense_matrices", .integer(dense.count)),
            ("expert_layers", .integer(expertLayers.count)),
            ("expert_tokens", .array(expertLayers.map { .array($0.tokens.map { .integer($0) }) })),
            ("under_calibrated", .array(underCalibrated.map {
                .object([("layer", .integer($0.layer)), ("expert", .integer($0.expert)), ("tokens", .integer($0.tokens))])
            })),
        ])
    }
}
