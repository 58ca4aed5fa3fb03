import BFFNCore

/// Prompt-lookup drafting: finds earlier occurrences of the context's last n tokens (n = `maxMatch` down to 1)
/// and proposes what followed them. No model is run.
///
/// With several occurrences of the longest matching n, the continuations (most recent first, at most
/// `maxOccurrences`) form a trie; each node keeps its `width` most frequent children (ties: the more recent
/// occurrence), breadth first, up to the shape's node budget. A chain (width 1) follows the most frequent
/// continuation.
public final class NGramDrafter: Drafter {
    public let name = "ngram"
    /// The longest suffix matched.
    public let maxMatch: Int
    /// The most occurrences used per step (the most recent).
    public let maxOccurrences: Int

    /// - Parameters:
    ///   - maxMatch: the longest suffix length tried (default 3).
    ///   - maxOccurrences: how many earlier occurrences feed the trie (default 16).
    public init(maxMatch: Int = 3, maxOccurrences: Int = 16) {
        self.maxMatch = max(1, maxMatch)
        self.maxOccurrences = max(1, maxOccurrences)
    }

    public func reset() {}

    public func draft(context: [Int], shape: DraftShape) throws -> DraftTree {
        let n = context.count
        var starts: [Int] = []
        var matched = 0
        for m in stride(from: min(maxMatch, n - 1), through: 1, by: -1) {
            // Occurrences of the last m tokens that end before the context does, most recent first.
            var p = n - m - 1
            while p >= 0 && starts.count < maxOccurrences {
                var equal = true
                for k in 0..<m where context[p + k] != context[n - m + k] { equal = false; break }
                if equal { starts.append(p + m) }
                p -= 1
            }
            if !starts.isEmpty { matched = m; break }
        }
        guard matched > 0 else { return DraftTree() }
        // A counting trie of the continuations: node 0 is the root.
        var children: [[Int: Int]] = [[:]]
        var counts: [Int] = [0], firstSeen: [Int] = [0], tokenOf: [Int] = [-1]
        for (rank, s) in starts.enumerated() {
            var node = 0
            for k in s..<min(s + shape.depth, n) {
                let t = context[k]
                if let c = children[node][t] {
                    node = c
                } else {
                    children.append([:]); counts.append(0); firstSeen.append(rank); tokenOf.append(t)
                    children[node][t] = counts.count - 1
                    node = counts.count - 1
                }
                counts[node] += 1
            }
        }
        var tree = DraftTree()
        var frontier: [(trie: Int, node: Int)] = [(0, -1)]
        while !frontier.isEmpty && tree.count < shape.maxNodes {
            var next: [(trie: Int, node: Int)] = []
            for f in frontier {
                let best = children[f.trie].values.sorted { (counts[$0], -firstSeen[$0]) > (counts[$1], -firstSeen[$1]) }.prefix(shape.width)
                for c in best where tree.count < shape.maxNodes {
                    next.append((c, tree.add(tokenOf[c], parent: f.node)))
                }
            }
            frontier = next
        }
        return tree
    }
}
