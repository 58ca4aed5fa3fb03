/// Chooses how many draft nodes each speculative step verifies, from what the run has measured, so that
/// speculation does not lose to plain decoding (docs/model.md, "Speculative decoding"): the time of a plain step,
/// the extra time per verified node, the drafter's time, and how many drafted tokens the target accepts.
///
/// - Accepted tokens with a budget of m nodes: the mean of min(L, m) over steps that verified at least m nodes
///   (L their accepted length); without such steps, that of the largest budget measured (a lower bound). A
///   prefix of a chain, or of a tree in node order, keeps the first nodes, so a path of length L survives
///   truncation to m >= L nodes.
/// - Time of a step with m > 0 nodes: the verification call's time for m nodes + drafting. Call times are
///   running averages per node count measured; a count not measured is interpolated between the nearest measured
///   counts (a plain step is 0 nodes), and extrapolated past the largest along the last measured slope: on large
///   models a call's cost grows far from linearly with its tokens. Drafting costs a running average per draft
///   level times the levels m asks for (min(m, depth)): a draft model runs one call per level, so a deep draft
///   costs that many of its forward passes, and a probe's catch-up on skipped tokens lands in the same average.
/// - Each step takes the m among 0, 1, 2, 4, 8, ... and the drafter's shape that maximises
///   (1 + accepted) / time. It measures first: two plain steps, then three drafts of 2 nodes; afterwards every
///   16th step drafts the next larger size when drafting pays (to learn about larger drafts), and when it does not, a draft
///   of 2 nodes after 32 plain steps, then after 64, 128, up to 512 while it keeps not paying (a draft model
///   must catch up on every token it skipped, so probing is not free); the interval also grows to keep a probe's
///   measured extra cost under 2 % of the plain steps between probes.
///
/// When even a draft that is always accepted could not beat a plain step, it stops drafting for good; a draft of
/// m nodes in a tree of depth D yields at most min(m, D) accepted tokens, whatever its width.
///
/// One instance can serve several generations (verify's prompts), so what it learnt carries over.
public final class AdaptiveDrafting {
    /// The most nodes a step may verify (the drafter's shape).
    public let maxNodes: Int
    /// The drafter's depth: the most draft tokens one step can accept.
    public let maxDepth: Int
    /// The most positions a feature drafter (EAGLE) runs to catch up before a draft (its `catchUpLimit`): a
    /// probe after many plain steps, or the first draft after a long prompt, costs at most this many head rows.
    public var catchUpLimit = 8
    /// Steps taken, and those without a draft.
    public private(set) var steps = 0, plainSteps = 0
    /// Running averages: seconds of a verification call per node count (0: a plain step), of drafting per level.
    private var callSeconds: [Int: Double] = [:]
    private var draftSecondsPerLevel: Double?
    /// (nodes verified, tokens accepted) of recent drafted steps.
    private var observations: [(nodes: Int, accepted: Int)] = []
    private let probe: Int
    /// Plain steps between probes while drafting does not pay, and the steps since the last probe.
    private var probeInterval = 32, sinceProbe = 0

    /// A controller for drafts of at most `maxNodes` nodes in trees of at most `maxDepth` levels (nil: a chain,
    /// as deep as it is long).
    public init(maxNodes: Int, maxDepth: Int? = nil) {
        self.maxNodes = max(maxNodes, 0)
        self.maxDepth = max(maxDepth ?? maxNodes, 0)
        probe = min(2, max(maxNodes, 0))
    }

    /// A controller for drafts of `shape`.
    public convenience init(shape: DraftShape) {
        self.init(maxNodes: shape.maxNodes, maxDepth: shape.depth)
    }

    /// The sizes considered: 0, 1, 2, 4, ... and `maxNodes`.
    var candidates: [Int] {
        var c = [0]
        var n = 1
        while n < maxNodes { c.append(n); n *= 2 }
        if maxNodes > 0 { c.append(maxNodes) }
        return c
    }

    /// Expected tokens emitted by a step that verifies `m` nodes: 1 (the bonus) + the accepted drafts.
    func expectedTokens(_ m: Int) -> Double {
        guard m > 0, !observations.isEmpty else { return 1 }
        var usable = observations.filter { $0.nodes >= m }
        var cap = m
        if usable.isEmpty {
            cap = observations.map(\.nodes).max()!
            usable = observations.filter { $0.nodes == cap }
        }
        return 1 + Double(usable.reduce(0) { $0 + min($1.accepted, cap) }) / Double(usable.count)
    }

    /// Draft levels a budget of `m` nodes asks the drafter for.
    func levels(_ m: Int) -> Int { min(max(m, 0), maxDepth) }

    /// Expected seconds of a verification call with `m` nodes (0: a plain step), from the measured counts; nil
    /// before a plain step and a drafted step are measured.
    func expectedCallSeconds(_ m: Int) -> Double? {
        if let measured = callSeconds[m] { return measured }
        let points = callSeconds.sorted { $0.key < $1.key }
        guard points.count >= 2, points[0].key == 0 else { return nil }
        if let upper = points.firstIndex(where: { $0.key > m }) {
            let (a, b) = (points[upper - 1], points[upper])
            return a.value + (b.value - a.value) * Double(m - a.key) / Double(b.key - a.key)
        }
        let (a, b) = (points[points.count - 2], points[points.count - 1])
        let slope = max(0, (b.value - a.value) / Double(b.key - a.key))
        return b.value + slope * Double(m - b.key)
    }

    /// Expected seconds of a step that verifies `m` nodes (drafting included when m > 0).
    func expectedSeconds(_ m: Int) -> Double? {
        guard let call = expectedCallSeconds(m) else { return nil }
        return m == 0 ? call : call + (draftSecondsPerLevel ?? 0) * Double(levels(m))
    }

    /// Whether a plain step and a drafted step have been measured.
    var hasCostModel: Bool { callSeconds[0] != nil && callSeconds.count >= 2 }

    /// The number of draft nodes the next step verifies. `remainingTokens` (the most tokens still to generate) and
    /// `catchUpSteps` (what the drafter must run before it can draft, in target decode steps: its pending positions
    /// times its relative cost) let it refuse a draft whose catch-up the rest of the generation cannot repay: the
    /// saving per remaining token is bounded by what the best measured size gains over a plain step, or before any
    /// measurement by an always-accepted draft of full depth.
    public func nextBudget(remainingTokens: Int? = nil, catchUpSteps: Double = 0) -> Int {
        let budget = chooseBudget()
        guard budget > 0, let remaining = remainingTokens, catchUpSteps > 0, let plain = expectedSeconds(0) else { return budget }
        var savingPerToken = plain * Double(maxDepth) / Double(maxDepth + 1)
        if hasCostModel, !observations.isEmpty, let t = expectedSeconds(budget) {
            savingPerToken = max(0, plain - t / expectedTokens(budget))
        }
        return catchUpSteps * plain > Double(remaining) * savingPerToken ? 0 : budget
    }

    private func chooseBudget() -> Int {
        if maxNodes == 0 || steps < 2 { return 0 }
        // When even a draft that is always accepted cannot beat a plain step (the drafter costs about as much as
        // the target: a draft model of the same size), stop drafting for good.
        if let plain = expectedSeconds(0), hasCostModel,
           candidates.dropFirst().allSatisfy({ m in expectedSeconds(m).map { Double(1 + min(m, maxDepth)) / $0 <= 1 / plain } ?? false }) {
            return 0
        }
        if observations.count < 3 || !hasCostModel { return probe }
        var best = 0, bestRate = 0.0
        for m in candidates {
            guard let t = expectedSeconds(m), t > 0 else { continue }
            let rate = expectedTokens(m) / t
            if rate > bestRate { (best, bestRate) = (m, rate) }
        }
        if best == 0 {
            if sinceProbe >= probeInterval {
                // Double the interval, and keep what a probe costs beyond a plain step (drafting, a head's catch-up,
                // the larger call) under 2 % of the plain steps between probes.
                var affordable = 0
                if let plain = expectedSeconds(0), plain > 0, let probed = expectedSeconds(probe) {
                    affordable = Int(((probed - plain) / (0.02 * plain)).rounded(.up))
                }
                probeInterval = min(max(probeInterval * 2, affordable), 512)
                return probe
            }
            return 0
        }
        probeInterval = 32
        // Every 16th step tries the next larger size, to learn whether a larger draft pays (a size never measured
        // is only interpolated).
        return steps % 16 == 15 ? (candidates.first { $0 > best } ?? best) : best
    }

    /// Records a step: the nodes it verified (0: plain), the tokens the target accepted from them, the seconds of
    /// its verification call and of its drafting, and the catch-up the drafting included (in target decode steps, as
    /// given to `nextBudget`), which is taken out of the drafting time before it is averaged per level.
    public func record(nodes: Int, accepted: Int, callSeconds call: Double, draftSeconds drafting: Double, catchUpSteps: Double = 0) {
        steps += 1
        func ema(_ old: Double?, _ new: Double) -> Double { old.map { 0.8 * $0 + 0.2 * new } ?? new }
        sinceProbe = nodes == 0 ? sinceProbe + 1 : 0
        callSeconds[nodes] = ema(callSeconds[nodes], call)
        if nodes == 0 {
            plainSteps += 1
            return
        }
        let catchUp = catchUpSteps * (callSeconds[0] ?? 0)
        draftSecondsPerLevel = ema(draftSecondsPerLevel, max(0, drafting - catchUp) / Double(max(levels(nodes), 1)))
        observations.append((nodes, accepted))
        if observations.count > 128 { observations.removeFirst() }
    }
}
