import BFFNCore
import BFFNEngine
import BFFNSpeculative

/// One prompt's comparison.
public struct PromptReport: Sendable {
    /// Prompt length in tokens.
    public var promptTokens: Int
    /// Logit comparison over the positions compared.
    public var logits = LogitComparison()
    /// Greedy tokens compared, and how many agree before the first difference.
    public var greedyTokens = 0
    public var greedyMatchTokens = 0
    /// The first generated position where the model's greedy token differs (nil: all agree).
    public var firstGreedyDivergence: Int?
    /// Whether speculative decoding gave the plain greedy output (nil when not run).
    public var speculativeMatches: Bool?

    /// An empty row for a prompt of `promptTokens` tokens.
    public init(promptTokens: Int) { self.promptTokens = promptTokens }
}

/// Speculative decoding figures over every prompt, measured in the same run as plain decoding.
public struct SpeculativeSummary: Sendable {
    /// The drafter ("ngram", "draft:PATH") and the draft shape.
    public var drafter: String
    public var shape: String
    /// True when every prompt's speculative output equals plain greedy decoding.
    public var lossless = true
    /// Verification calls, draft tokens proposed, and draft tokens accepted.
    public var steps = 0, drafted = 0, accepted = 0
    /// With adaptive drafting: steps that verified no draft (drafting did not pay).
    public var plainSteps = 0
    var plainTokens = 0, plainSeconds = 0.0, plainExperts = 0.0
    var speculativeTokens = 0, speculativeSeconds = 0.0, speculativeExperts = 0.0, chunkSparsitySum = 0.0
    var fullTreeCalls = 0, fullTreeUnionSum = 0.0
    /// The draft tree's node budget and levels (the shape verified).
    public var draftTreeNodes = 0, draftLevels = 0
    /// CLS_spec: the chunk sparsity of the calls that verified the drafter's whole tree (paper Appendix G; nil
    /// when none did, e.g. when adaptive drafting always verified less).
    public var fullTreeSparsity: Double? { fullTreeCalls > 0 ? 1 - fullTreeUnionSum / Double(fullTreeCalls) : nil }

    /// Tokens emitted per verification call.
    public var meanAcceptLength: Double { steps > 0 ? Double(accepted + steps) / Double(steps) : 0 }
    /// Decode tokens per second, plain and speculative.
    public var plainTokensPerSecond: Double { plainSeconds > 0 ? Double(plainTokens) / plainSeconds : 0 }
    public var speculativeTokensPerSecond: Double { speculativeSeconds > 0 ? Double(speculativeTokens) / speculativeSeconds : 0 }
    /// Fraction of expert bytes read per generated token, plain and speculative.
    public var plainExpertsRead: Double { plainTokens > 0 ? plainExperts / Double(plainTokens) : 0 }
    public var speculativeExpertsRead: Double { speculativeTokens > 0 ? speculativeExperts / Double(speculativeTokens) : 0 }
    /// Chunk-level sparsity of the verified chunks (1 - mean union fraction per verification call).
    public var verifiedChunkSparsity: Double { steps > 0 ? chunkSparsitySum / Double(steps) : 0 }

    /// An empty summary for `drafter` and `shape`.
    public init(drafter: String, shape: String) {
        self.drafter = drafter
        self.shape = shape
    }

    mutating func addPlain(_ r: GenerationResult) {
        let n = max(r.generatedIds.count - 1, 0)
        plainTokens += n
        plainSeconds += r.decodeSeconds
        plainExperts += r.expertsReadFraction * Double(n)
    }

    mutating func add(_ s: SpeculativeResult, lossless ok: Bool) {
        lossless = lossless && ok
        steps += s.steps
        plainSteps += s.plainSteps
        drafted += s.draftedTokens
        accepted += s.acceptedTokens
        let n = max(s.generatedIds.count - 1, 0)
        speculativeTokens += n
        speculativeSeconds += s.decodeSeconds
        speculativeExperts += s.expertsReadFraction * Double(n)
        chunkSparsitySum += s.chunkSparsity * Double(s.steps)
        fullTreeCalls += s.fullTreeCalls
        fullTreeUnionSum += s.fullTreeUnionSum
    }
}

/// What `bffn verify` found, and whether it passes.
public struct VerificationReport: Sendable {
    /// The model checked, and its reference (a file or a model), as given.
    public var model: String
    public var reference: String
    /// "file" or "model".
    public var referenceKind = "file"
    /// The model's class relative to the reference, and the limits applied.
    public var quantization: QuantizationClass = .reference
    public var thresholds = VerificationThresholds.defaults(for: .reference)
    /// One entry per prompt, in order.
    public var prompts: [PromptReport] = []
    /// Per layer, ||model - reference|| / ||reference|| of the hidden state after the layer (models only).
    public var hiddenRelativeError: [Double] = []
    /// The first layer whose relative error exceeds the tolerance (nil: none).
    public var firstDivergingLayer: Int?
    /// Mean Jaccard index of the active expert sets per (layer, token), when both sides have router scores.
    public var routerJaccard: Double?
    /// A pack's checksum verification: whether it ran, and the error it found.
    public var integrityChecked = false
    public var integrityError: String?
    /// The speculative check (nil with drafter `none`) and the sparsity of the model's routers over the tokens compared.
    public var speculative: SpeculativeSummary?
    public var sparsity: SparsityStatistics?
    /// Perplexity and KL divergence on a text (`verify --text`), when asked.
    public var textEvaluation: TextEvaluation?
    /// The verified model's bits per weight.
    public var weightSize: WeightSize?
    /// The verdict, and why it failed.
    public private(set) var passed = false
    public private(set) var failures: [String] = []

    /// An empty report; `Verifier.run` fills it in.
    public init(model: String, reference: String) {
        self.model = model
        self.reference = reference
    }

    /// All positions of all prompts.
    public var logits: LogitComparison { prompts.reduce(into: LogitComparison()) { $0.merge($1.logits) } }
    /// True when every prompt's greedy continuation matches.
    public var greedyMatch: Bool { prompts.allSatisfy { $0.greedyMatchTokens == $0.greedyTokens } }

    /// Applies the thresholds.
    mutating func judge() {
        var f: [String] = []
        let c = logits
        if let e = integrityError { f.append("integrity: \(e)") }
        if c.nonFinite > 0 { f.append("\(c.nonFinite) model logits are NaN or infinite") }
        if thresholds.identicalLogits && c.maxAbsError > 0 {
            f.append("logits differ (max abs error \(short(c.maxAbsError))) where a \(quantization.rawValue) model must give identical logits")
        }
        if !(c.meanKLD <= thresholds.maxMeanKLD) { f.append("mean KLD \(short(c.meanKLD)) > \(short(thresholds.maxMeanKLD))") }
        if c.top1Agreement < thresholds.minTop1 { f.append("top-1 agreement \(short(c.top1Agreement)) < \(short(thresholds.minTop1))") }
        if thresholds.requireGreedyMatch && !greedyMatch {
            let p = prompts.firstIndex { $0.firstGreedyDivergence != nil }!
            f.append("greedy continuation of prompt \(p + 1) differs from token \(prompts[p].firstGreedyDivergence!)")
        }
        if let t = textEvaluation {
            if !(t.meanKLD <= thresholds.maxMeanKLD) { f.append("mean KLD on the text \(short(t.meanKLD)) > \(short(thresholds.maxMeanKLD))") }
            if t.sameTop1Fraction < thresholds.minTop1 { f.append("same top-1 on the text \(short(t.sameTop1Fraction)) < \(short(thresholds.minTop1))") }
        }
        if let s = speculative, !s.lossless { f.append("speculative decoding (\(s.drafter)) did not reproduce greedy decoding") }
        if let l = firstDivergingLayer, !f.isEmpty { f.append("hidden states first diverge at layer \(l)") }
        failures = f
        passed = f.isEmpty
    }

    /// The report as one JSON object (the `--json` output of `bffn verify`).
    public var json: JSONValue {
        let c = logits
        var members: [JSONMember] = [
            JSONMember("passed", .bool(passed)),
            JSONMember("failures", .array(failures.map { .string($0) })),
            JSONMember("model", .string(model)),
            JSONMember("reference", .string(reference)),
            JSONMember("reference_kind", .string(referenceKind)),
            JSONMember("quantization", .string(quantization.rawValue)),
            JSONMember("thresholds", .object([
                JSONMember("max_mean_kld", .double(thresholds.maxMeanKLD)),
                JSONMember("min_top1", .double(thresholds.minTop1)),
                JSONMember("identical_logits", .bool(thresholds.identicalLogits)),
                JSONMember("require_greedy_match", .bool(thresholds.requireGreedyMatch)),
                JSONMember("hidden_tolerance", .double(thresholds.hiddenTolerance)),
            ])),
            JSONMember("prompts", .int(Int64(prompts.count))),
            JSONMember("positions", .int(Int64(c.positions))),
            JSONMember("max_abs_logit_error", finite(c.maxAbsError)),
            JSONMember("mean_kld", finite(c.meanKLD)),
            JSONMember("max_kld", finite(c.maxKLD)),
            JSONMember("non_finite_logits", .int(Int64(c.nonFinite))),
            JSONMember("top1_agreement", .double(c.top1Agreement)),
            JSONMember("top5_overlap", .double(c.top5Overlap)),
            JSONMember("logit_nmse_db", c.nmseDB.map { .double($0) } ?? .null),
            JSONMember("logits_identical", .bool(c.maxAbsError == 0)),
            JSONMember("parameters", weightSize.map { .int(Int64($0.parameters)) } ?? .null),
            JSONMember("weight_bytes", weightSize.map { .int(Int64($0.bytes)) } ?? .null),
            JSONMember("bits_per_weight", weightSize.map { .double($0.bitsPerWeight) } ?? .null),
            JSONMember("bits_per_weight_padded", weightSize.map { .double($0.paddedBitsPerWeight) } ?? .null),
            JSONMember("greedy_match", .bool(greedyMatch)),
            JSONMember("greedy_match_tokens", .int(Int64(prompts.reduce(0) { $0 + $1.greedyMatchTokens }))),
            JSONMember("greedy_tokens", .int(Int64(prompts.reduce(0) { $0 + $1.greedyTokens }))),
            JSONMember("router_jaccard", routerJaccard.map { .double($0) } ?? .null),
            JSONMember("first_diverging_layer", firstDivergingLayer.map { .int(Int64($0)) } ?? .null),
            JSONMember("hidden_relative_error", .array(hiddenRelativeError.map { $0.isFinite ? .double($0) : .null })),
            JSONMember("integrity", .object([
                JSONMember("checked", .bool(integrityChecked)),
                JSONMember("error", integrityError.map { .string($0) } ?? .null),
            ])),
        ]
        members.append(JSONMember("per_prompt", .array(prompts.map { p in
            .object([
                JSONMember("prompt_tokens", .int(Int64(p.promptTokens))),
                JSONMember("positions", .int(Int64(p.logits.positions))),
                JSONMember("max_abs_logit_error", finite(p.logits.maxAbsError)),
                JSONMember("mean_kld", finite(p.logits.meanKLD)),
                JSONMember("max_kld", finite(p.logits.maxKLD)),
                JSONMember("top1_agreement", .double(p.logits.top1Agreement)),
                JSONMember("top5_overlap", .double(p.logits.top5Overlap)),
                JSONMember("greedy_match_tokens", .int(Int64(p.greedyMatchTokens))),
                JSONMember("greedy_tokens", .int(Int64(p.greedyTokens))),
                JSONMember("first_greedy_divergence", p.firstGreedyDivergence.map { .int(Int64($0)) } ?? .null),
                JSONMember("speculative_matches_greedy", p.speculativeMatches.map { .bool($0) } ?? .null),
            ])
        })))
        if let s = speculative {
            members.append(JSONMember("speculative", .object([
                JSONMember("drafter", .string(s.drafter)),
                JSONMember("shape", .string(s.shape)),
                JSONMember("lossless", .bool(s.lossless)),
                JSONMember("steps", .int(Int64(s.steps))),
                JSONMember("drafted_tokens", .int(Int64(s.drafted))),
                JSONMember("accepted_tokens", .int(Int64(s.accepted))),
                JSONMember("mean_accept_length", .double(s.meanAcceptLength)),
                JSONMember("plain_tokens_per_second", .double(s.plainTokensPerSecond)),
                JSONMember("speculative_tokens_per_second", .double(s.speculativeTokensPerSecond)),
                JSONMember("speedup", s.plainTokensPerSecond > 0 ? .double(s.speculativeTokensPerSecond / s.plainTokensPerSecond) : .null),
                JSONMember("plain_expert_bytes_fraction_per_token", .double(s.plainExpertsRead)),
                JSONMember("speculative_expert_bytes_fraction_per_token", .double(s.speculativeExpertsRead)),
                JSONMember("verified_chunk_sparsity", .double(s.verifiedChunkSparsity)),
                JSONMember("cls_spec", s.fullTreeSparsity.map { .double($0) } ?? .null),
                JSONMember("full_tree_calls", .int(Int64(s.fullTreeCalls))),
                JSONMember("plain_steps", .int(Int64(s.plainSteps))),
            ])))
        } else {
            members.append(JSONMember("speculative", .null))
        }
        members.append(JSONMember("sparsity", sparsity.map(VerificationReport.sparsityJSON) ?? .null))
        members.append(JSONMember("text", textEvaluation?.json ?? .null))
        return .object(members)
    }

    /// Sparsity statistics as JSON: tokens, experts, overall and per layer (chunk lengths as string keys).
    public static func sparsityJSON(_ s: SparsityStatistics) -> JSONValue {
        func cls(_ d: [Int: Double]) -> JSONValue {
            .object(SparsityStatistics.chunkLengths.compactMap { L in d[L].map { JSONMember(String(L), .double($0)) } })
        }
        func dist(_ d: SparsityStatistics.Distribution) -> JSONValue {
            .object([JSONMember("min", .double(d.min)), JSONMember("p10", .double(d.p10)),
                     JSONMember("median", .double(d.median)), JSONMember("p90", .double(d.p90)),
                     JSONMember("max", .double(d.max))])
        }
        func histogram(_ h: [Int]) -> JSONValue { .array(h.map { .int(Int64($0)) }) }
        var members: [JSONMember] = [
            JSONMember("tokens", .int(Int64(s.tokens))),
            JSONMember("experts", .int(Int64(s.experts))),
            JSONMember("token_level_sparsity", .double(s.tls)),
            JSONMember("chunk_level_sparsity", cls(s.overall)),
            JSONMember("cls8", s.overall[8].map { .double($0) } ?? .null),
            JSONMember("active_experts", dist(s.activeExperts)),
            JSONMember("active_experts_histogram", histogram(s.activeExpertsHistogram)),
            JSONMember("reuse_ratio", s.reuseRatio.map { .double($0) } ?? .null),
        ]
        if let o = s.objectives {
            members += [
                JSONMember("activation_locality_loss", .double(o.activationLocalityLoss)),
                JSONMember("chunk_sparsification_loss", .double(o.chunkSparsificationLoss)),
                JSONMember("objective_chunk_length", .int(Int64(o.chunkLength))),
            ]
        }
        members.append(JSONMember("paper", PaperSparsity.json))
        members.append(JSONMember("layers", .array(s.layers.enumerated().map { l, layer in
            var m: [JSONMember] = [
                JSONMember("layer", .int(Int64(l))),
                JSONMember("token_level_sparsity", layer.chunkSparsity[1].map { .double($0) } ?? .null),
                JSONMember("chunk_level_sparsity", cls(layer.chunkSparsity)),
                JSONMember("active_experts", dist(layer.activeExperts)),
                JSONMember("active_experts_histogram", histogram(layer.activeExpertsHistogram)),
                JSONMember("reuse_ratio", layer.reuseRatio.map { .double($0) } ?? .null),
            ]
            if let o = s.objectives, l < o.layers.count {
                m.append(JSONMember("activation_locality_loss", .double(o.layers[l].activationLocalityLoss)))
                m.append(JSONMember("chunk_sparsification_loss", .double(o.layers[l].chunkSparsificationLoss)))
            }
            return .object(m)
        })))
        return .object(members)
    }

    /// The report as readable text.
    public var text: String {
        let c = logits
        var s = "verify \(model)\n  against \(reference) (\(referenceKind)), quantization class \(quantization.rawValue)\n"
        if let w = weightSize {
            s += "  weights             \(fixed(w.bitsPerWeight, 3)) bits per weight (\(fixed(w.paddedBitsPerWeight, 3)) with alignment padding), \(w.parameters) parameters in \(TextNumber.bytesWithSize(UInt64(w.bytes)))\n"
        }
        if prompts.isEmpty {
            s += "  no prompts compared: the text only\n"
        } else {
            s += "  \(prompts.count) prompt(s), \(c.positions) positions compared\n\n"
            s += "  max |logit error|   \(short(c.maxAbsError))\(c.maxAbsError == 0 ? " (identical)" : "")\n"
            s += "  KL divergence       mean \(short(c.meanKLD)), max \(short(c.maxKLD))   (limit: mean <= \(short(thresholds.maxMeanKLD)))\n"
            s += "  top-1 agreement     \(percent(c.top1Agreement))   (limit: >= \(percent(thresholds.minTop1)))\n"
            s += "  top-5 overlap       \(percent(c.top5Overlap))\n"
            s += "  logit NMSE          \(c.nmseDB.map { "\(short($0)) dB" } ?? "-inf dB (identical)")\n"
            let matched = prompts.reduce(0) { $0 + $1.greedyMatchTokens }, total = prompts.reduce(0) { $0 + $1.greedyTokens }
            s += "  greedy match        \(matched)/\(total) tokens\(greedyMatch ? "" : prompts.enumerated().compactMap { i, p in p.firstGreedyDivergence.map { ", prompt \(i + 1) diverges at token \($0)" } }.joined())\n"
            if let j = routerJaccard { s += "  router agreement    Jaccard \(short(j))\n" }
            if prompts.count > 1 {
                s += "  per prompt          tokens  max|err|  mean KLD   top-1    greedy\n"
                for (i, p) in prompts.enumerated() {
                    s += "    " + pad(R: String(i + 1), 16) + pad(L: String(p.promptTokens), 6) + pad(L: short(p.logits.maxAbsError), 10)
                    s += pad(L: short(p.logits.meanKLD), 10) + pad(L: percent(p.logits.top1Agreement), 9)
                    s += "   \(p.greedyMatchTokens)/\(p.greedyTokens)\(p.speculativeMatches == false ? "  speculative DIFFERS" : "")\n"
                }
            }
        }
        if !hiddenRelativeError.isEmpty {
            s += "  hidden rel. error   " + hiddenRelativeError.map(short).joined(separator: " ")
            s += firstDivergingLayer.map { "   first diverging layer: \($0)\n" } ?? "   (no layer beyond \(short(thresholds.hiddenTolerance)))\n"
        }
        if integrityChecked { s += "  checksums           \(integrityError ?? "all match")\n" }
        if let sp = speculative {
            s += "\n  speculative decoding (\(sp.drafter), \(sp.shape)): \(sp.lossless ? "identical to greedy on every prompt" : "DIFFERS from greedy")\n"
            s += "    mean acceptance length \(fixed(sp.meanAcceptLength, 2)) tokens/step over \(sp.steps) steps (\(sp.accepted) of \(sp.drafted) drafts accepted"
            s += sp.plainSteps > 0 ? "; \(sp.plainSteps) steps drafted nothing, as drafting did not pay)\n" : ")\n"
            s += "    tokens/s plain \(fixed(sp.plainTokensPerSecond, 1)), speculative \(fixed(sp.speculativeTokensPerSecond, 1))"
            s += sp.plainTokensPerSecond > 0 ? " (x\(fixed(sp.speculativeTokensPerSecond / sp.plainTokensPerSecond, 2)))\n" : "\n"
            s += "    expert bytes read per token: plain \(percent(sp.plainExpertsRead)), speculative \(percent(sp.speculativeExpertsRead)); verified-chunk sparsity \(percent(sp.verifiedChunkSparsity))\n"
            if let spec = sp.fullTreeSparsity {
                s += "    CLS_spec (union over the full \(sp.shape), \(sp.fullTreeCalls) calls) \(percent(spec))"
                for L in [8, 32] { if let c = sparsity?.overall[L] { s += ", CLS\(L) \(percent(c))" } }
                s += "\n"
            }
        }
        if let sp = sparsity { s += "\n" + VerificationReport.sparsityTable(sp) }
        if let t = textEvaluation { s += "\n" + t.text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n") }
        s += "\n" + (passed ? "PASSED\n" : "FAILED\n" + failures.map { "  - \($0)\n" }.joined())
        return s
    }

    /// The sparsity statistics as a table: one row per layer and an overall row.
    public static func sparsityTable(_ sp: SparsityStatistics) -> String {
        let lengths = SparsityStatistics.chunkLengths.filter { sp.overall[$0] != nil }
        var s = "  sparsity over \(sp.tokens) tokens, \(sp.experts) experts (fraction inactive; active experts per token)\n"
        s += "  layer " + lengths.map { pad(L: "CLS\($0)", 7) }.joined() + "  active min/p10/med/p90/max   reuse\n"
        func row(_ name: String, _ cls: [Int: Double], _ d: SparsityStatistics.Distribution, _ reuse: Double?) -> String {
            let dist = [d.min, d.p10, d.median, d.p90, d.max].map { fixed($0, 1) }.joined(separator: "/")
            return "  " + pad(R: name, 5) + " " + lengths.map { pad(L: cls[$0].map { fixed($0, 3) } ?? "-", 7) }.joined() + "  " + pad(R: dist, 27) + " " + (reuse.map { fixed($0, 3) } ?? "-") + "\n"
        }
        for (l, layer) in sp.layers.enumerated() { s += row(String(l), layer.chunkSparsity, layer.activeExperts, layer.reuseRatio) }
        s += row("all", sp.overall, sp.activeExperts, sp.reuseRatio)
        if let o = sp.objectives {
            s += "  training objectives on these tokens (paper §3.2): activation locality loss \(fixed(o.activationLocalityLoss, 4)), "
            s += "chunk sparsification loss \(fixed(o.chunkSparsificationLoss, 4)) (chunks of \(o.chunkLength))\n"
            s += "    per layer AL: " + o.layers.map { fixed($0.activationLocalityLoss, 3) }.joined(separator: " ")
            s += "\n    per layer CS: " + o.layers.map { fixed($0.chunkSparsificationLoss, 3) }.joined(separator: " ") + "\n"
        }
        s += "  this model: TLS \(fixed(sp.tls * 100, 2)) %, CLS8 \(sp.overall[8].map { fixed($0 * 100, 2) + " %" } ?? "-"); "
        s += "the paper's BlockFFN models (TLS / CLS8 %): " + PaperSparsity.models.map { "\($0.name) \(fixed($0.tls, 2))/\(fixed($0.cls8, 2))" }.joined(separator: ", ") + "\n"
        return s
    }
}

/// A JSON number, or null for NaN and infinities (JSON has neither).
func finite(_ v: Double) -> JSONValue { v.isFinite ? .double(v) : .null }

func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }
func short(_ v: Double) -> String { TextNumber.short(v) }

func percent(_ v: Double) -> String { fixed(v * 100, 1) + " %" }

func pad(L text: String, _ n: Int) -> String { String(repeating: " ", count: max(n - text.count, 0)) + text }
func pad(R text: String, _ n: Int) -> String { text + String(repeating: " ", count: max(n - text.count, 0)) }

/// Token-level and 8-token chunk-level sparsity of the paper's BlockFFN models (arXiv 2507.08771, Table 2), for
/// comparison with a measured checkpoint.
public enum PaperSparsity {
    public static let models: [(name: String, tls: Double, cls8: Double)] = [
        ("Small", 80.54, 71.38), ("Medium", 84.25, 75.87), ("Large", 84.05, 73.79), ("XLarge", 81.81, 72.78),
    ]

    /// The table as JSON: `{name: {tls, cls8}}` in percent.
    public static var json: JSONValue {
        .object(models.map { JSONMember($0.name, .object([JSONMember("tls", .double($0.tls)), JSONMember("cls8", .double($0.cls8))])) })
    }
}
