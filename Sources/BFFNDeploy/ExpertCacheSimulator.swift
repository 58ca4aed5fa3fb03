/// Replays a routing trace against expert-cache policies: how often the experts a token needs are already in a
/// cache of `capacity` expert blocks, and how many bytes a device would read from flash per token
/// (`bffn trace --simulate`; formats/trace.md gives the model).
///
/// The access stream is token by token (decoding), layer by layer, the token's active experts of that layer in
/// ascending order. A block not in the cache is a miss: it is read (`expertBytes`) and inserted, evicting one
/// block when the cache is full, never one the same layer of the same token still needs (as `ExpertCache`,
/// which fetches a layer's experts together). Blocks are (layer, expert) pairs; the cache is shared by all
/// layers.
public enum ExpertCacheSimulator {
    /// A cache policy.
    public enum Policy: String, CaseIterable, Sendable {
        /// Evict the least recently used block.
        case lru
        /// Evict the least frequently used block (uses counted since the start; ties: least recently used).
        case lfu
        /// The most used blocks pinned in half of the capacity (the trace's own use counts, as a calibration would
        /// give them: hot-first): read at their first use and never evicted; the other half is LRU.
        case pinned = "hot-first-pinned"
        /// Belady's optimum (evict the block needed again furthest in the future): the bound no policy beats.
        case belady
    }

    /// What one policy achieved.
    public struct Result: Sendable {
        public var policy: Policy
        public var accesses: Int, hits: Int
        public var bytesRead: Int
        public var tokens: Int
        /// Accesses to pinned blocks, and of those the reads (each pinned block's first use).
        public var pinnedAccesses = 0, pinnedReads = 0
        public var hitRate: Double { accesses > 0 ? Double(hits) / Double(accesses) : 1 }
        public var bytesPerToken: Double { tokens > 0 ? Double(bytesRead) / Double(tokens) : 0 }
    }

    /// The access stream of `trace`: block ids (layer · E + expert).
    public static func accesses(_ trace: RoutingTrace) -> [Int] { stream(trace).blocks }

    /// The access stream, and for each access the range of the (token, layer) group it belongs to.
    static func stream(_ trace: RoutingTrace) -> (blocks: [Int], groups: [Range<Int>]) {
        var blocks: [Int] = [], groups: [Range<Int>] = []
        for t in 0..<trace.tokenCount {
            for l in 0..<trace.layers {
                let start = blocks.count
                for e in 0..<trace.experts where trace.scores[l][t * trace.experts + e] != 0 { blocks.append(l * trace.experts + e) }
                groups += Array(repeating: start..<blocks.count, count: blocks.count - start)
            }
        }
        return (blocks, groups)
    }

    /// Simulates `policy` with a cache of `capacity` blocks; blocks in `pinned` (layer · E + expert), counted
    /// within the capacity, are never evicted once read (what `ExpertCache` does with a deployment pack's
    /// resident experts).
    public static func simulate(_ trace: RoutingTrace, capacity: Int, policy: Policy, pinned fixed: Set<Int> = []) -> Result {
        let (stream, groups) = Self.stream(trace)
        let blocks = trace.layers * trace.experts
        var result = Result(policy: policy, accesses: stream.count, hits: 0, bytesRead: 0, tokens: trace.tokenCount)
        guard capacity > 0 else {
            result.bytesRead = stream.count * trace.expertBytes
            return result
        }
        var inCache = [Bool](repeating: false, count: blocks)
        var lastUse = [Int](repeating: -1, count: blocks), uses = [Int](repeating: 0, count: blocks)
        var cached: [Int] = []   // the evictable blocks in the cache (a linear scan picks the victim)
        var pinned = [Bool](repeating: false, count: blocks)
        for b in fixed where b < blocks { pinned[b] = true }
        if policy == .pinned && fixed.isEmpty {
            var counts = [Int](repeating: 0, count: blocks)
            for b in stream { counts[b] += 1 }
            let hot = (0..<blocks).sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }.prefix(capacity / 2).filter { counts[$0] > 0 }
            for b in hot { pinned[b] = true }
        }
        let pinnedCount = pinned.filter { $0 }.count
        // Belady: the position of each access's next use of the same block.
        var nextUse = [Int](repeating: Int.max, count: stream.count)
        if policy == .belady {
            var seen = [Int](repeating: Int.max, count: blocks)
            for i in stride(from: stream.count - 1, through: 0, by: -1) {
                nextUse[i] = seen[stream[i]]
                seen[stream[i]] = i
            }
        }
        var upcoming = [Int](repeating: Int.max, count: blocks)   // Belady: next use of each cached block
        for (i, b) in stream.enumerated() {
            // The blocks of this access's (token, layer) group may not evict each other.
            let group = stream[groups[i]]
            uses[b] += 1
            if pinned[b] { result.pinnedAccesses += 1 }
            if inCache[b] {
                result.hits += 1
            } else if pinned[b] {
                // A pinned block: read once, kept in its reserved room.
                result.bytesRead += trace.expertBytes
                result.pinnedReads += 1
                inCache[b] = true
            } else {
                result.bytesRead += trace.expertBytes
                if cached.count >= capacity - pinnedCount {
                    var victimIndex = -1
                    for (k, c) in cached.enumerated() where !group.contains(c) {
                        if victimIndex < 0 { victimIndex = k; continue }
                        let v = cached[victimIndex]
                        let worse: Bool
                        switch policy {
                        case .lru, .pinned: worse = lastUse[c] < lastUse[v]
                        case .lfu: worse = uses[c] != uses[v] ? uses[c] < uses[v] : lastUse[c] < lastUse[v]
                        case .belady: worse = upcoming[c] > upcoming[v]
                        }
                        if worse { victimIndex = k }
                    }
                    if victimIndex >= 0 {
                        inCache[cached[victimIndex]] = false
                        cached.swapAt(victimIndex, cached.count - 1)
                        cached.removeLast()
                    }
                }
                if cached.count < capacity - pinnedCount {
                    inCache[b] = true
                    cached.append(b)
                }
            }
            lastUse[b] = i
            upcoming[b] = nextUse[i]
        }
        return result
    }
}
