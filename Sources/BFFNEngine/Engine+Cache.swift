import BFFNCore

extension Engine {
    /// Empties the KV cache.
    public func reset() { truncate(to: 0) }

    /// Drops cached tokens after the first `n` (rolls the cache back).
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= length, "truncate(to:) beyond the cache")
        for l in 0..<L {
            keys[l].keep(slots: n)
            values[l].keep(slots: n)
        }
        slotParent.removeSubrange(n...)
        slotPosition.removeSubrange(n...)
        linearPrefixLength = min(linearPrefixLength, n)
        length = n
    }

    /// Keeps one root-to-leaf path of a tree of slots and drops the rest: slots `0 ..< start` stay, the slots in
    /// `path` (each the child of the one before, the first the child of slot `start - 1`) move to
    /// `start ..< start + path.count`, in that order. This is the KV-cache fix-up after tree verification
    /// (docs/model.md, "Speculative decoding"); the moved keys and values are the exact bits computed for those nodes.
    /// - Throws: `.usage` when `path` is not such a chain of existing slots.
    public func commit(path: [Int], from start: Int) throws {
        guard start >= 0 && start <= length else {
            throw BFFNError(.usage, "commit start \(start) is outside the cache of \(length) slots", field: "start")
        }
        var previous = start - 1
        for s in path {
            guard s >= start && s < length && slotParent[s] == previous else {
                throw BFFNError(.usage, "slot \(s) does not continue the path at slot \(previous)", field: "path")
            }
            previous = s
        }
        for l in 0..<L {
            for (k, s) in path.enumerated() where s != start + k {
                keys[l].copy(slot: s, to: start + k)
                values[l].copy(slot: s, to: start + k)
            }
        }
        for (k, s) in path.enumerated() {
            slotPosition[start + k] = slotPosition[s]
            slotParent[start + k] = start + k - 1
        }
        truncate(to: start + path.count)
    }

    /// Keeps the slots `kept` (ascending) and drops every other one: slot `kept[i]` moves to slot `i` with the same
    /// keys and values (bits), position and parent (renumbered). Several sequences decoded in one cache drop a
    /// finished sequence's slots this way; each kept slot's parent must be kept too (or be -1).
    /// - Throws: `.usage` when `kept` is not ascending within the cache, or drops a kept slot's parent.
    public func retain(slots kept: [Int]) throws {
        var newIndex = [Int](repeating: -1, count: length)
        for (i, s) in kept.enumerated() {
            guard s >= 0 && s < length && (i == 0 || kept[i - 1] < s) else {
                throw BFFNError(.usage, "slots to keep must ascend within the cache of \(length) slots (slot \(s) at index \(i))", field: "slots")
            }
            newIndex[s] = i
        }
        for s in kept where slotParent[s] >= 0 && newIndex[slotParent[s]] < 0 {
            throw BFFNError(.usage, "slot \(s) is kept but its parent slot \(slotParent[s]) is not", field: "slots")
        }
        for l in 0..<L {
            for (i, s) in kept.enumerated() where s != i {
                keys[l].copy(slot: s, to: i)
                values[l].copy(slot: s, to: i)
            }
        }
        for (i, s) in kept.enumerated() {
            slotParent[i] = slotParent[s] < 0 ? -1 : newIndex[slotParent[s]]
            slotPosition[i] = slotPosition[s]
        }
        // The chain from slot 0 is kept up to the first slot that moved or lost its parent.
        var chain = 0
        while chain < kept.count && kept[chain] == chain && chain < linearPrefixLength { chain += 1 }
        linearPrefixLength = chain
        truncate(to: kept.count)
    }

    /// The slots cache slot `s` sees (itself and its ancestors); slot -1 sees nothing.
    func visibleSlots(of s: Int) -> VisibleSlots {
        var reversed: [Int] = []
        var q = s
        while q >= 0 && !slotIsLinearPrefix(q) {
            reversed.append(q)
            q = slotParent[q]
        }
        return VisibleSlots(prefix: q + 1, extra: reversed.reversed())
    }

    /// True when slots 0...s form one chain (each slot follows the one before): the usual committed prefix.
    func slotIsLinearPrefix(_ s: Int) -> Bool {
        if linearPrefixLength > s { return true }
        var n = linearPrefixLength
        while n <= s && slotParent[n] == n - 1 { n += 1 }
        linearPrefixLength = n
        return n > s
    }
}

/// The cache slots a token attends to, ascending: slots `0 ..< prefix`, then `extra`.
struct VisibleSlots {
    var prefix: Int
    var extra: [Int]
    var count: Int { prefix + extra.count }
    @inline(__always) subscript(i: Int) -> Int { i < prefix ? i : extra[i - prefix] }
}
