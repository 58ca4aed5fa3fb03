/// Chooses how many draft nodes each speculative step verifies, from what the run has measured, so that
/// speculation does not lose to plain decoding (docs/model.md, "Speculative decoding"): the time of a plain step,
/// the time of a verification call per node count, the drafter's time per draft level, what the drafter spends
/// catching up on positions it skipped, and how many drafted tokens the target accepts.
///
/// - Accepted tokens with a budget of m nodes: the mean of min(L, m) over steps that verified at least m nodes
///   (L their accepted length); without such steps, that of the largest budget measured (a lower bound). A
///   prefix of a chain, or of a tree in node order, keeps the first nodes, so a path of length L survives
///   truncation to m >= L nodes.
/// - Time of a step with m > 0 nodes: the verification call's time for m nodes + drafting. Call times are
///   medians of the recent calls per node count measured; a count not measured is interpolated between the nearest measured
///   counts (a plain step is 0 nodes), and extrapolated past the largest along the last measured slope: on large
///   models a call's cost grows far from linearly with its tokens. Drafting costs a recent median per draft
///   level times the levels m asks for (min(m, depth)), learnt from the steps whose catch-up is the one every
///   drafted step has (at most depth + 1 positions: a draft model's new root and an accepted node it never fed, an
///   EAGLE head's accepted path), so that cost is in the per-level figure: a draft model runs one call per level.
/// - A longer catch-up (the positions decoded plainly since the drafter last ran, or the prompt) is measured apart,
///   per position, and weighed where it is paid: a draft after plain steps, and a generation too short to repay it.
/// - Each step takes the m among 0, 1, 2, 4, 8, ... and the drafter's shape that maximises
///   (1 + accepted) / time, and drafts only when that beats a plain step by `margin`: a gain smaller than the
///   noise of the measurements is not worth the risk of a loss. It measures first: two plain steps, then three
///   drafts of 2 nodes; afterwards every 16th step drafts the next larger size when drafting pays (to learn about
///   larger drafts), and when it does not, a draft of 2 nodes after 32 plain steps, then after 64, 128, up to 512
///   while it keeps not paying, at intervals that keep what a probe costs beyond a plain step (its drafting, its
///   larger call and its catch-up) under 2 % of the plain steps between probes. A drafter that limits its catch-up
///   (`CatchUpLimiting`, which the speculative decoder sets to `catchUpLimit`) makes that a fixed cost; one that
///   cannot makes it grow with every position skipped, and when that alone costs 2 % of a plain step per position
///   no interval keeps under the bound: it stops probing.
///
/// When even a draft that is always accepted could not beat a plain step, it stops drafting for good; a draft of
/// m nodes in a tree of depth D yields at most min(m, D) accepted tokens, whatever its width.
///
/// One instance can serve several generations (verify's prompts), so what it learnt carries over; `report` says
/// what it measured and decided.
public final class AdaptiveDrafting {
    /// The most nodes a step may verify (the drafter's shape).
    public let maxNodes: Int
    /// The drafter's depth: the most draft tokens one step can accept.
    public let maxDepth: Int
    /// The most positions a drafter runs to catch up before a draft (`CatchUpLimiting.catchUpLimit`: an EAGLE head's
    /// rows, a draft model's positions): a probe after many plain steps, or the first draft after a long prompt,
    /// costs at most this many.
    public var catchUpLimit = 8
    /// How much more tokens per second than plain decoding a draft size must promise to be chosen (0.03: 3 %).
    public var margin = 0.03
    /// Steps taken, and those without a draft.
    public private(set) var steps = 0, plainSteps = 0
    /// Recent samples (the last `RecentMedian.capacity`), whose median is the estimate: seconds of a verification
    /// call per node count (0: a plain step), of drafting per level, of catching up per skipped position. A median
    /// rather than a running mean, so that one outlier (a first multi-token call's page faults, another process
    /// taking the core) cannot make drafting look hopeless and stop it for good.
    private var callSamples: [Int: RecentMedian] = [:]
    private var draftSamples = RecentMedian(), catchUpSamples = RecentMedian()
    private var callSeconds: [Int: Double] { callSamples.compactMapValues(\.value) }
    private var draftSecondsPerLevel: Double? { draftSamples.value }
    private var catchUpSecondsPerPosition: Double? { catchUpSamples.value }
    /// The drafter's weight bytes over the target's, as last given to `nextBudget` (the catch-up estimate before
    /// one is measured).
    private var relativeCost = 0.0
    /// (nodes verified, tokens accepted) of recent drafted steps.
    private var observations: [(nodes: Int, accepted: Int)] = []
    private let probe: Int
    /// Plain steps between probes while drafting does not pay, and the steps since the last probe.
    private var probeInterval = 32, sinceProbe = 0
    /// Why drafting stopped for good (nil while it may still draft).
    public private(set) var stopped: StopCause?
    /// Steps per budget chosen.
    private var chosen: [Int: Int] = [:]

    /// Why the controller no longer drafts.
    public enum StopCause: String, Sendable {
        /// Even drafts that are always accepted cannot beat a plain step at the measured costs.
        case cannotPay = "cannot_pay"
        /// Drafting did not pay, and a probe's catch-up alone would cost more than 2 % of the plain steps it follows.
        case probesCostTooMuch = "probes_cost_too_much"
    }

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

    /// Catch-ups of at most this many positions are the ones every drafted step has (see the type's notes).
    var recurringCatchUp: Int { maxDepth + 1 }

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

    /// Expected seconds of a step that verifies `m` nodes (drafting included when m > 0, a longer catch-up not).
    func expectedSeconds(_ m: Int) -> Double? {
        guard let call = expectedCallSeconds(m) else { return nil }
        return m == 0 ? call : call + (draftSecondsPerLevel ?? 0) * Double(levels(m))
    }

    /// Expected seconds of catching up on `positions` skipped positions beyond the recurring ones: the measured
    /// rate, else the drafter's relative cost times a plain step per position.
    func expectedCatchUpSeconds(_ positions: Int) -> Double {
        guard positions > recurringCatchUp else { return 0 }
        let perPosition = catchUpSecondsPerPosition ?? relativeCost * (expectedSeconds(0) ?? 0)
        return perPosition * Double(positions)
    }

    /// Whether a plain step, a drafted step and the drafting per level have been measured.
    var hasCostModel: Bool { callSeconds[0] != nil && callSeconds.count >= 2 && draftSecondsPerLevel != nil }

    /// The number of draft nodes the next step verifies.
    /// - Parameters:
    ///   - remainingTokens: the most tokens still to generate (nil: unbounded).
    ///   - catchUpPositions: positions the drafter must run before it can draft that are not the root
    ///     (`Drafter.pendingPositions`).
    ///   - relativeCost: the drafter's cost per position relative to a plain step of the target
    ///     (`Drafter.relativeCost`), used until a catch-up has been measured.
    /// A draft whose catch-up the rest of the generation cannot repay is refused: the saving per remaining token is
    /// bounded by what the best measured size gains over a plain step, or before any measurement by an
    /// always-accepted draft of full depth.
    public func nextBudget(remainingTokens: Int? = nil, catchUpPositions: Int = 0, relativeCost: Double = 0) -> Int {
        self.relativeCost = relativeCost
        let budget = decide(catchUpPositions: catchUpPositions, remainingTokens: remainingTokens)
        chosen[budget, default: 0] += 1
        return budget
    }

    private func decide(catchUpPositions: Int, remainingTokens: Int?) -> Int {
        let budget = chooseBudget(catchUpPositions: catchUpPositions)
        let catchUp = expectedCatchUpSeconds(catchUpPositions)
        guard budget > 0, let remaining = remainingTokens, catchUp > 0, let plain = expectedSeconds(0) else { return budget }
        var savingPerToken = plain * Double(maxDepth) / Double(maxDepth + 1)
        if hasCostModel, !observations.isEmpty, let t = expectedSeconds(budget) {
            savingPerToken = max(0, plain - t / expectedTokens(budget))
        }
        return catchUp > Double(remaining) * savingPerToken ? 0 : budget
    }

    private func chooseBudget(catchUpPositions: Int) -> Int {
        if maxNodes == 0 || steps < 2 || stopped != nil { return 0 }
        if observations.count < 3 || !hasCostModel { return probe }
        // When even a draft that is always accepted cannot beat a plain step (the drafter costs about as much as
        // the target: a draft model of the same size), stop drafting for good; judged once the first three drafts
        // are measured, so that one slow first call does not decide it.
        if let plain = expectedSeconds(0),
           candidates.dropFirst().allSatisfy({ m in expectedSeconds(m).map { Double(1 + min(m, maxDepth)) / $0 <= 1 / plain } ?? false }) {
            stopped = .cannotPay
            return 0
        }
        guard let plain = expectedSeconds(0), plain > 0 else { return probe }
        var best = 0, bestRate = 1 / plain
        for m in candidates.dropFirst() {
            guard let t = expectedSeconds(m), t > 0 else { continue }
            let rate = expectedTokens(m) / t
            if rate > bestRate { (best, bestRate) = (m, rate) }
        }
        if best > 0 && bestRate < (1 + margin) / plain { best = 0 }
        if best == 0 {
            guard sinceProbe >= probeInterval else { return 0 }
            // What a probe costs beyond a plain step: its drafting and larger call, and its catch-up. The next
            // interval doubles, and grows further to keep that under 2 % of the plain steps between probes. A
            // catch-up bounded by `catchUpLimit` is a fixed cost; one that grows with every position skipped (a
            // drafter that cannot limit it) adds its cost per position to each plain step, and when that alone is 2 %
            // of a plain step no interval keeps under the bound: probing stops.
            var fixed = max(0, (expectedSeconds(probe) ?? plain) - plain)
            var perStep = 0.0
            let catchUp = expectedCatchUpSeconds(catchUpPositions)
            if catchUpPositions >= sinceProbe && catchUpPositions > recurringCatchUp {
                perStep = catchUp / Double(catchUpPositions)
            } else {
                fixed += catchUp
            }
            let allowance = 0.02 * plain - perStep
            guard allowance > 0 else {
                stopped = .probesCostTooMuch
                return 0
            }
            probeInterval = min(max(probeInterval * 2, Int((fixed / allowance).rounded(.up))), 512)
            return probe
        }
        probeInterval = 32
        // Every 16th step tries the next larger size, to learn whether a larger draft pays (a size never measured
        // is only interpolated).
        return steps % 16 == 15 ? (candidates.first { $0 > best } ?? best) : best
    }

    /// Records a step: the nodes it verified (0: plain), the tokens the target accepted from them, the seconds of
    /// its verification call and of its drafting, and how many positions that drafting caught up on (as given to
    /// `nextBudget`). A recurring catch-up stays in the per-level drafting cost; a longer one is measured per
    /// position against it.
    public func record(nodes: Int, accepted: Int, callSeconds call: Double, draftSeconds drafting: Double, catchUpPositions: Int = 0) {
        steps += 1
        sinceProbe = nodes == 0 ? sinceProbe + 1 : 0
        callSamples[nodes, default: RecentMedian()].add(call)
        if nodes == 0 {
            plainSteps += 1
            return
        }
        let levels = Double(max(self.levels(nodes), 1))
        if catchUpPositions <= recurringCatchUp {
            draftSamples.add(drafting / levels)
        } else if let perLevel = draftSecondsPerLevel {
            catchUpSamples.add(max(0, drafting - perLevel * levels) / Double(catchUpPositions))
        }
        observations.append((nodes, accepted))
        if observations.count > 128 { observations.removeFirst() }
    }

    /// What the controller measured and decided so far.
    public struct Report: Sendable, Equatable {
        /// Steps per budget chosen (0: plain steps).
        public var budgets: [Int: Int]
        /// Seconds of a plain step, and of a verification call per node count measured.
        public var callSeconds: [Int: Double]
        /// Seconds of drafting per level, and of catching up per skipped position (nil: not measured).
        public var draftSecondsPerLevel: Double?, catchUpSecondsPerPosition: Double?
        /// Expected tokens per step and tokens per second relative to plain decoding for each candidate size, at
        /// the measured costs (empty before they are measured).
        public var expected: [Expectation]
        /// Why drafting stopped for good, if it did.
        public var stopped: StopCause?

        /// What a draft of `nodes` nodes is expected to give: `tokens` per step, `speedup` over plain decoding.
        public struct Expectation: Sendable, Equatable {
            public var nodes: Int, tokens: Double, speedup: Double
        }
    }

    /// What it measured and decided.
    public var report: Report {
        var expected: [Report.Expectation] = []
        if hasCostModel, let plain = expectedSeconds(0) {
            for m in candidates.dropFirst() {
                if let t = expectedSeconds(m) { expected.append(.init(nodes: m, tokens: expectedTokens(m), speedup: expectedTokens(m) / t * plain)) }
            }
        }
        return Report(budgets: chosen, callSeconds: callSeconds, draftSecondsPerLevel: draftSecondsPerLevel,
                      catchUpSecondsPerPosition: catchUpSecondsPerPosition, expected: expected, stopped: stopped)
    }
}

/// The median of the last `capacity` values added (the mean of the middle two for an even count).
struct RecentMedian {
    static let capacity = 9
    private var values: [Double] = []

    mutating func add(_ v: Double) {
        values.append(v)
        if values.count > Self.capacity { values.removeFirst() }
    }

    /// nil before any value.
    var value: Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted(), n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
