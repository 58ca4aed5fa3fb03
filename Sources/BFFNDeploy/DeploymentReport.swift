import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack
import BFFNVerify

/// What a device pack holds and what it should cost on the device (`bffn pack` prints it).
///
/// Bytes per token are weight bytes read: the non-expert weights (attention, router, norms, LM head, one
/// embedding row) once per pass, plus each active expert's data bytes once per pass. A chunk of L tokens reads the
/// non-expert weights once and the union of its experts once (the published chunk kernel computes a chunk this way too). Implied tokens/s assume
/// decoding is bound by memory bandwidth.
public struct DeploymentReport: Sendable {
    /// The pack written, its source checkpoint, and the profile it was made for.
    public var output: String
    public var source: String
    public var profile: DeviceProfile
    /// Bytes of the pack file, of the resident part (header, dense weights and resident experts) and of the
    /// streamed experts.
    public var fileBytes: UInt64
    public var residentBytes: UInt64
    public var streamedBytes: UInt64
    /// Resident expert slots per layer, of `experts`.
    public var residentExperts: Int
    public var experts: Int
    public var layers: Int
    /// Non-expert bytes per pass and data bytes per expert.
    public var nonExpertBytes: Double
    public var expertBytes: Double
    /// The calibration, its source name and the sequences held back; the verification of the pack against its
    /// source; this machine's benchmark of the pack (nil with `--no-bench`).
    public var calibration: ExpertCalibration
    public var calibrationName: String
    public var heldBack: Int
    public var verification: VerificationReport
    public var measured: BenchmarkResult?
    /// Per tensor class: its storage (manifest spelling) and the quantization error.
    public var classes: [(name: String, dtype: String, stats: ErrorStats)]
    /// Attachments stored in the pack.
    public var attachments: [String]
    /// Decoding with streamed experts on the device, when the profile gives its flash speed and not every expert
    /// is resident (formats/profiles.md, "Deployment report").
    public var flash: FlashEstimate?

    /// The read model of streamed experts: the calibration's routing replayed, token by token, through the cache
    /// `ExpertCache` keeps by default for such a pack (the resident experts, loaded with the pack, plus one layer's
    /// slots, least recently used).
    public struct FlashEstimate: Sendable {
        /// Cache slots besides the resident experts, and the share of streamed-expert requests they serve.
        public var streamSlots: Int, streamHitRate: Double
        /// Blocks and bytes read from flash per token, and the time that takes.
        public var readsPerToken: Double, bytesPerToken: Double, secondsPerToken: Double
        /// Time per token reading weights from memory at the profile's bandwidth.
        public var memorySecondsPerToken: Double
        /// 1 / (memory + flash seconds per token).
        public var tokensPerSecond: Double { 1 / max(memorySecondsPerToken + secondsPerToken, 1e-12) }

        public var json: JSONValue {
            .object([("stream_slots", .integer(streamSlots)), ("stream_hit_rate", .double(streamHitRate)), ("reads_per_token", .double(readsPerToken)),
                     ("flash_bytes_per_token", .double(bytesPerToken)), ("flash_seconds_per_token", .double(secondsPerToken)),
                     ("memory_seconds_per_token", .double(memorySecondsPerToken)), ("estimated_tokens_per_second", .double(tokensPerSecond))])
        }
    }

    /// Decoding with the EAGLE head the pack carries (nil without one): a bandwidth model of one draft-and-verify
    /// step, using the acceptance and CLS_spec measured by the verification before writing (the published tree,
    /// verified whole, on the held-back sequences).
    public var eagle: EagleEstimate?

    /// One EAGLE step reads the target's non-expert weights once and the union of the tree's experts once
    /// ((1 - CLS_spec) of them) for the whole tree, and the head's weights and its LM-head rows once per tree
    /// level (the catch-up rows ride with the root's level); it emits the mean acceptance length. Compute is not
    /// modelled: on a device the tree's extra rows are assumed to hide under the reads, as the paper's chunk
    /// kernels aim for.
    public struct EagleEstimate: Sendable {
        /// Nodes verified per step (the root included), and the tree's levels.
        public var treeSize: Int, levels: Int
        /// Tokens emitted per step and CLS_spec, as measured.
        public var meanAcceptLength: Double, clsSpec: Double
        /// Bytes per step: the target's (non-expert + union of experts) and the drafter's.
        public var targetBytesPerStep: Double, draftBytesPerStep: Double
        /// Tokens/s at the profile's bandwidth, and the plain decoding figure beside it.
        public var tokensPerSecond: Double, plainTokensPerSecond: Double

        public var json: JSONValue {
            .object([("tree_size", .integer(treeSize)), ("levels", .integer(levels)), ("mean_accept_length", .double(meanAcceptLength)),
                     ("cls_spec", .double(clsSpec)), ("target_bytes_per_step", .double(targetBytesPerStep)),
                     ("draft_bytes_per_step", .double(draftBytesPerStep)), ("estimated_tokens_per_second", .double(tokensPerSecond)),
                     ("plain_tokens_per_second", .double(plainTokensPerSecond)),
                     ("speedup", .double(plainTokensPerSecond > 0 ? tokensPerSecond / plainTokensPerSecond : 0))])
        }
    }

    /// The EAGLE estimate (nil when the pack carries no head or the verification measured no full tree).
    static func eagleEstimate(profile: DeviceProfile, pack: PackFile, weights: ModelWeights, verification: VerificationReport,
                              nonExpertBytes: Double, expertBytes: Double, plainBytesPerToken: Double) -> EagleEstimate? {
        guard let carried = try? pack.eagleHead(), let sp = verification.speculative, let cls = sp.fullTreeSparsity else { return nil }
        let a = weights.architecture
        let target = nonExpertBytes + (1 - cls) * Double(a.numExperts * a.numLayers) * expertBytes
        let headBytes = Double(carried.head.namedMatrices.reduce(0) { $0 + $1.matrix.byteCount })
        let rowBytes = Double(weights.head.type.rowBytes(cols: weights.head.cols))
        let levels = sp.draftLevels
        let draft = Double(levels) * (headBytes + Double(carried.vocabulary.count) * rowBytes)
        let bandwidth = profile.bandwidthBytesPerSecond
        return EagleEstimate(treeSize: sp.draftTreeNodes + 1, levels: levels, meanAcceptLength: sp.meanAcceptLength, clsSpec: cls,
                             targetBytesPerStep: target, draftBytesPerStep: draft,
                             tokensPerSecond: sp.meanAcceptLength * bandwidth / (target + draft),
                             plainTokensPerSecond: plainBytesPerToken > 0 ? bandwidth / plainBytesPerToken : 0)
    }

    /// The estimate for `pack` (nil when the profile has no flash speed or every expert is resident).
    static func flashEstimate(profile: DeviceProfile, pack: PackFile, calibration: ExpertCalibration, memoryBytesPerToken: Double) -> FlashEstimate? {
        guard let speed = profile.flashBytesPerSecond, let e = pack.experts, e.residentCount < e.count, calibration.tokens > 0 else { return nil }
        let E = e.count, L = e.layers
        var scores = [[Float]](repeating: [], count: L)
        for sequence in calibration.routing { for l in 0..<min(L, sequence.count) { scores[l] += sequence[l] } }
        let tokens = scores.first.map { $0.count / E } ?? 0
        guard tokens > 0 else { return nil }
        let trace = RoutingTrace(layers: L, experts: E, expertBytes: Int(e.blockBytes), tokens: Array(repeating: 0, count: tokens),
                                 sequenceStarts: [0], scores: scores, model: pack.path)
        var resident = Set<Int>()
        for l in 0..<L { for s in 0..<e.residentCount { resident.insert(l * E + e.order[l][s]) } }
        let result = ExpertCacheSimulator.simulate(trace, capacity: L * e.residentCount + E, policy: .lru, pinned: resident)
        // Resident experts are loaded with the pack: their first reads are not flash reads at decode time.
        let reads = Double(result.accesses - result.hits - result.pinnedReads)
        let streamRequests = Double(result.accesses - result.pinnedAccesses)
        let perToken = reads / Double(tokens)
        return FlashEstimate(streamSlots: E, streamHitRate: streamRequests > 0 ? 1 - reads / streamRequests : 1, readsPerToken: perToken,
                             bytesPerToken: perToken * Double(e.blockBytes),
                             secondsPerToken: perToken * (profile.flashLatencySeconds + Double(e.blockBytes) / speed),
                             memorySecondsPerToken: memoryBytesPerToken / profile.bandwidthBytesPerSecond)
    }

    init(output: String, source: String, profile: DeviceProfile, pack: PackFile, weights: ModelWeights, conversion: ConvertReport,
         calibration: ExpertCalibration, calibrationName: String, heldBack: Int, verification: VerificationReport, measured: BenchmarkResult?) {
        self.output = output
        self.source = source
        self.profile = profile
        fileBytes = UInt64(pack.file.size)
        let e = pack.experts
        let expertsStart = e?.offset ?? pack.header.manifestOffset
        residentBytes = expertsStart + (e?.residentBytes ?? 0)
        streamedBytes = e?.streamedBytes ?? 0
        residentExperts = e?.residentCount ?? 0
        experts = e?.count ?? 0
        layers = weights.architecture.numLayers
        nonExpertBytes = Double(weights.nonExpertBytesPerToken)
        expertBytes = Double(e?.dataBytes ?? 0)
        self.calibration = calibration
        self.calibrationName = calibrationName
        flash = nil
        self.heldBack = heldBack
        self.verification = verification
        self.measured = measured
        classes = conversion.classes.map { ($0.tensorClass.rawValue, $0.dtype, $0.stats) }
        attachments = pack.attachments.map(\.name)
        slotOrder = e?.order ?? []
        flash = DeploymentReport.flashEstimate(profile: profile, pack: pack, calibration: calibration, memoryBytesPerToken: bytesPerToken)
        eagle = DeploymentReport.eagleEstimate(profile: profile, pack: pack, weights: weights, verification: verification,
                                               nonExpertBytes: nonExpertBytes, expertBytes: expertBytes, plainBytesPerToken: bytesPerToken)
    }

    var slotOrder: [[Int]]

    /// Expected weight bytes read per token when decoding one token at a time, at the calibration's TLS.
    public var bytesPerToken: Double {
        nonExpertBytes + (1 - calibration.sparsity.tls) * Double(experts * layers) * expertBytes
    }

    /// Of `bytesPerToken`, the expected bytes read from the streamed section (by the calibration's per-expert
    /// activation frequencies).
    public var streamedBytesPerToken: Double {
        var sum = 0.0
        for l in 0..<slotOrder.count {
            for slot in residentExperts..<experts { sum += calibration.activationProbability(layer: l, expert: slotOrder[l][slot]) }
        }
        return sum * expertBytes
    }

    /// Expected bytes read for one chunk of `length` tokens at the calibration's CLS for that length (nil when the
    /// calibration sequences are shorter).
    public func bytesPerChunk(_ length: Int) -> Double? {
        calibration.sparsity.overall[length].map { nonExpertBytes + (1 - $0) * Double(experts * layers) * expertBytes }
    }

    /// Decode tokens/s the profile's bandwidth allows at `bytesPerToken`.
    public var impliedTokensPerSecond: Double { bytesPerToken > 0 ? profile.bandwidthBytesPerSecond / bytesPerToken : 0 }

    /// Tokens/s for chunks of `length` when every token of a chunk is kept (the ceiling for speculative
    /// decoding or batched prompts), at the profile's bandwidth.
    public func impliedChunkTokensPerSecond(_ length: Int) -> Double? {
        bytesPerChunk(length).map { profile.bandwidthBytesPerSecond * Double(length) / $0 }
    }

    /// The chunk lengths reported: 8 and 32, within the profile's largest chunk.
    public var chunkLengths: [Int] { [8, 32].filter { $0 <= profile.maxChunkTokens } }

    /// The report as one JSON object (`bffn pack --json`).
    public var json: JSONValue {
        var chunks: [(String, JSONValue)] = []
        for L in chunkLengths {
            chunks.append((String(L), .object([
                ("chunk_level_sparsity", calibration.sparsity.overall[L].map { .double($0) } ?? .null),
                ("bytes_per_chunk", bytesPerChunk(L).map { .double($0) } ?? .null),
                ("bytes_per_token", bytesPerChunk(L).map { .double($0 / Double(L)) } ?? .null),
                ("implied_tokens_per_second", impliedChunkTokensPerSecond(L).map { .double($0) } ?? .null),
            ])))
        }
        var m: [(String, JSONValue)] = [
            ("output", .string(output)), ("source", .string(source)), ("profile", profile.json),
            ("kernels", profile.cpu?.json(paths: true) ?? .null),
            ("file_bytes", .integer(fileBytes)), ("resident_bytes", .integer(residentBytes)), ("streamed_bytes", .integer(streamedBytes)),
            ("resident_experts_per_layer", .integer(residentExperts)), ("experts_per_layer", .integer(experts)),
            ("classes", .object(classes.map { ($0.name, JSONValue.object([("dtype", .string($0.dtype)), ("error", $0.stats.json)])) })),
            ("attachments", .array(attachments.map { .string($0) })),
            ("calibration", .object([
                ("source", .string(calibrationName)), ("sequences", .integer(calibration.sequences)), ("tokens", .integer(calibration.tokens)),
                ("held_back", .integer(heldBack)), ("token_level_sparsity", .double(calibration.sparsity.tls)),
                ("sparsity", VerificationReport.sparsityJSON(calibration.sparsity)),
                ("top_pairs", .array((0..<layers).map { l in .array(calibration.topPairs(layer: l, count: 4).map { .array([.integer($0.0), .integer($0.1), .integer($0.2)]) }) })),
            ])),
            ("per_token", .object([
                ("bytes_per_token", .double(bytesPerToken)), ("streamed_bytes_per_token", .double(streamedBytesPerToken)),
                ("implied_tokens_per_second", .double(impliedTokensPerSecond)),
                ("flash", flash?.json ?? .null),
            ])),
            ("per_chunk", .object(chunks)),
            ("eagle", eagle?.json ?? .null),
            ("verification", .object([
                ("passed", .bool(verification.passed)), ("quantization", .string(verification.quantization.rawValue)),
                ("mean_kld", .double(verification.logits.meanKLD)), ("top1_agreement", .double(verification.logits.top1Agreement)),
                ("greedy_match", .bool(verification.greedyMatch)),
                ("speculative_lossless", verification.speculative.map { .bool($0.lossless) } ?? .null),
                ("mean_accept_length", verification.speculative.map { .double($0.meanAcceptLength) } ?? .null),
            ])),
        ]
        if let b = measured {
            m.append(("measured_here", .object([
                ("decode_tokens_per_second", .double(b.decodeTokensPerSecond)), ("read_bandwidth_gb_per_s", .double(b.readBandwidthGBps)),
                ("implied_tokens_per_second_at_read_bandwidth", .double(bytesPerToken > 0 ? b.readBandwidthGBps * 1e9 / bytesPerToken : 0)),
                ("threads", .integer(b.threads)),
            ])))
        } else {
            m.append(("measured_here", .null))
        }
        return .object(m)
    }

    /// The report as readable text.
    public var text: String {
        func mb(_ b: Double) -> String { TextNumber.bytes(b) }
        var s = "pack \(output)\n  from \(source), profile \(profile.name): \(profile.description)\n"
        s += "  storage: " + classes.map { "\($0.name) \($0.dtype)" }.joined(separator: ", ") + "\n"
        s += "  file \(mb(Double(fileBytes))); resident \(mb(Double(residentBytes)))"
        s += profile.residentBudgetBytes.map { " of a \(mb(Double($0))) budget" } ?? " (no budget)"
        s += "; streamed \(mb(Double(streamedBytes)))\n"
        if let cpu = profile.cpu { s += "  kernels on the device: \(cpu.kernelSummary)\n" }
        if experts > 0 { s += "  experts: hot-first in every layer; \(residentExperts) of \(experts) per layer resident\n" }
        if !attachments.isEmpty { s += "  attachments: \(attachments.joined(separator: ", "))\n" }
        s += "  calibration: \(calibrationName), \(calibration.sequences) sequences, \(calibration.tokens) tokens; TLS \(fixed(calibration.sparsity.tls, 3))"
        for L in [8, 32] { if let c = calibration.sparsity.overall[L] { s += ", CLS\(L) \(fixed(c, 3))" } }
        s += "\n\n  at \(fixed(profile.bandwidthBytesPerSecond / 1e9, 1)) GB/s (the profile's bandwidth):\n"
        s += "    one token at a time: \(mb(bytesPerToken)) per token (\(mb(streamedBytesPerToken)) streamed) -> \(TextNumber.count(impliedTokensPerSecond)) tokens/s\n"
        if let f = flash {
            s += "    with streamed experts from flash (\(fixed((profile.flashBytesPerSecond ?? 0) / 1e9, 1)) GB/s, \(fixed(profile.flashLatencySeconds * 1e6, 0)) us per read; the calibration replayed through the resident experts and \(f.streamSlots) LRU slots):\n"
            s += "      \(fixed(f.readsPerToken, 2)) reads, \(mb(f.bytesPerToken)) per token from flash (\(fixed(f.streamHitRate * 100, 1)) % of streamed requests cached) -> about \(TextNumber.count(f.tokensPerSecond)) tokens/s\n"
        }
        for L in chunkLengths {
            if let b = bytesPerChunk(L), let t = impliedChunkTokensPerSecond(L) {
                s += "    chunks of \(L): \(mb(b)) per chunk, \(mb(b / Double(L))) per token -> up to \(TextNumber.count(t)) tokens/s when every token is kept\n"
            }
        }
        if let g = eagle {
            s += "    with the carried EAGLE head (tree of \(g.treeSize), \(g.levels) levels; measured here: \(fixed(g.meanAcceptLength, 2)) tokens per step, CLS_spec \(fixed(g.clsSpec, 3))): "
            s += "\(mb(g.targetBytesPerStep)) target + \(mb(g.draftBytesPerStep)) draft per step -> about \(TextNumber.count(g.tokensPerSecond)) tokens/s (x\(fixed(g.plainTokensPerSecond > 0 ? g.tokensPerSecond / g.plainTokensPerSecond : 0, 2)) plain)\n"
        }
        if let b = measured {
            s += "  on this machine (bffn bench, \(b.threads) threads): decode \(fixed(b.decodeTokensPerSecond, 1)) tokens/s measured; "
            s += "read bandwidth \(fixed(b.readBandwidthGBps, 1)) GB/s implies \(TextNumber.count(bytesPerToken > 0 ? b.readBandwidthGBps * 1e9 / bytesPerToken : 0)) tokens/s\n"
        }
        s += "\n  verified against the source on \(heldBack) held-back sequence(s): \(verification.quantization.rawValue) class, mean KLD \(TextNumber.short(verification.logits.meanKLD)), "
        s += "top-1 \(fixed(verification.logits.top1Agreement * 100, 1)) %, greedy \(verification.greedyMatch ? "identical" : "differs")"
        if let sp = verification.speculative { s += ", speculative output identical to greedy: \(sp.lossless ? "yes" : "NO")" }
        s += "\n"
        return s
    }
}

func fixed(_ value: Double, _ digits: Int) -> String { TextNumber.fixed(value, digits) }
