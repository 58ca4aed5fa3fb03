import BFFNCore

/// Several sequences decoded together on one engine: each `step()` is one forward call that runs every running
/// sequence's next token and a chunk of the prompts waiting to start, so the weights (and the experts the tokens
/// share) are read once for all of them.
///
/// Each sequence is a chain of its own in the engine's cache: its first token has no parent and sits at position 0,
/// and every later token follows the sequence's previous slot, so it attends to its own tokens only (the tree
/// attention of draft verification). The engine is batch-invariant, so a sequence's logits, and with
/// `DecodingSequence` its ids (greedy or seeded), are the same bits as when `GreedyDecoder` decodes it alone,
/// whatever else shares its calls. A finished sequence's slots are dropped from the cache at once
/// (`Engine.retain(slots:)`), so the cache holds the running sequences' tokens only.
///
/// Not thread-safe: one thread at a time calls `add` and `step`.
public final class SequenceBatch {
    /// A sequence of the batch, as `add` returned it.
    public struct Handle: Hashable, Sendable {
        /// Sequences get increasing numbers in the order they are added.
        public let number: Int
    }

    /// The engine every call runs on; its cache belongs to the batch.
    public let engine: Engine
    /// The most prompt tokens one call takes (the rest waits for the next calls), so a long prompt delays the
    /// running sequences' next tokens by a bounded amount.
    public let prefillChunk: Int

    private final class Member {
        let handle: Handle
        var sequence: DecodingSequence
        let onToken: (Int) throws -> Void
        let onLogprob: ((TokenLogprob) -> Void)?
        /// Prompt ids not yet in the cache.
        var waiting: ArraySlice<Int>
        /// The sequence's newest slot (-1 before its first token).
        var lastSlot = -1
        /// The id to run next, once the prompt is in.
        var next: Int?
        let added: Double
        var firstLogits: Double?
        var expertSum = 0.0, steps = 0

        init(handle: Handle, sequence: DecodingSequence, onToken: @escaping (Int) throws -> Void, onLogprob: ((TokenLogprob) -> Void)?) {
            self.handle = handle
            self.sequence = sequence
            self.onToken = onToken
            self.onLogprob = onLogprob
            waiting = sequence.prompt[...]
            added = monotonicSeconds()
        }
    }

    private var members: [Member] = []
    /// The member number each cache slot belongs to.
    private var owners: [Int] = []
    private var nextNumber = 0

    /// A batch over `engine`, whose cache is emptied.
    public init(engine: Engine, prefillChunk: Int = 256) {
        self.engine = engine
        self.prefillChunk = max(1, prefillChunk)
        engine.reset()
    }

    /// Sequences added and not yet finished.
    public var count: Int { members.count }
    /// Forward calls made so far.
    public private(set) var steps = 0
    /// Sequences that got logits, summed over the calls: `sequenceSteps / steps` is the mean batch.
    public private(set) var sequenceSteps = 0

    /// Adds a sequence; its prompt runs from the next `step()`. `onToken` receives each chosen id (during `step`), and
    /// with `options.logprobs`, `onLogprob` its log-probabilities just before.
    /// - Throws: `DecodingSequence`'s errors (empty prompt, longer than the context, options out of range); `.usage`
    ///   when the model's rotary embedding uses dynamic NTK scaling and the sequence could pass
    ///   `max_position_embeddings` (its positions would then be scaled by the call's length, which differs in a batch).
    public func add(prompt: [Int], options: GenerationOptions, onToken: @escaping (Int) throws -> Void = { _ in },
                    onLogprob: ((TokenLogprob) -> Void)? = nil) throws -> Handle {
        let sequence = try DecodingSequence(prompt: prompt, options: options)
        let rotary = engine.rotary
        let longest = min(prompt.count + options.maxNewTokens, options.contextLimit ?? Int.max)
        if rotary.scaling?.type == "dynamic" && longest > rotary.maxPositions {
            throw BFFNError(.usage, "with dynamic rope scaling a batched sequence must stay within max_position_embeddings (\(rotary.maxPositions)); this one may reach \(longest) tokens",
                            field: "max_new_tokens")
        }
        let handle = Handle(number: nextNumber)
        nextNumber += 1
        members.append(Member(handle: handle, sequence: sequence, onToken: onToken, onLogprob: onLogprob))
        return handle
    }

    /// Drops every sequence and empties the cache (after a failed step, whose cache may be half-written).
    public func removeAll() {
        members.removeAll()
        owners.removeAll()
        engine.reset()
    }

    /// Runs one forward call: each running sequence's next id, then up to `prefillChunk` prompt ids of the sequences
    /// still reading their prompts (in the order they were added). Every sequence whose logits came out chooses its
    /// next id (`onToken` is called); those that stop leave the batch.
    /// - Returns: the sequences that finished in this call: their result, or the error their `onToken` threw.
    /// - Throws: the engine's errors; the batch is then emptied (`removeAll`), as no sequence can go on.
    public func step() throws -> [(Handle, Result<GenerationResult, any Error>)] {
        var finished: [(Handle, Result<GenerationResult, any Error>)] = []
        // Sequences that stop before their first token (max_new_tokens 0) still read their prompt, as plain decoding.
        guard !members.isEmpty else { return finished }
        let start = engine.length
        var tokens: [Int] = [], parents: [Int] = [], owner: [Int] = []
        // Each sequence's tokens of the call are an expert group of their own (unrelated sequences share few experts).
        var groups: [Range<Int>] = []
        /// Who gets the logits of the call's tail, in tail order.
        var tail: [(member: Member, token: Int, parent: Int)] = []
        // Prompt chunks first (but a finishing prompt's last id in the tail), then the running sequences' ids.
        var budget = prefillChunk
        for m in members where !m.waiting.isEmpty && budget > 0 {
            let take = min(m.waiting.count, budget)
            budget -= take
            let chunk = m.waiting.prefix(take)
            m.waiting = m.waiting.dropFirst(take)
            var parent = m.lastSlot
            let groupStart = tokens.count
            defer { if tokens.count > groupStart { groups.append(groupStart..<tokens.count) } }
            for (i, id) in chunk.enumerated() {
                if i == take - 1 && m.waiting.isEmpty {
                    tail.append((m, id, parent))
                    break
                }
                tokens.append(id)
                parents.append(parent)
                owner.append(m.handle.number)
                parent = start + tokens.count - 1
            }
            m.lastSlot = parent
        }
        for m in members where m.waiting.isEmpty {
            if let id = m.next { tail.append((m, id, m.lastSlot)) }
        }
        // Tail parents that are this call's slots are already numbered; a finishing prompt's last id follows its chunk.
        for entry in tail {
            groups.append(tokens.count..<(tokens.count + 1))
            tokens.append(entry.token)
            parents.append(entry.parent)
            owner.append(entry.member.handle.number)
            entry.member.lastSlot = start + tokens.count - 1
        }
        let out: ForwardOutput
        do {
            out = try engine.forward(tokens, parents: parents, logits: .lastTokens(max(tail.count, 1)), expertGroups: groups)
        } catch {
            removeAll()
            throw error
        }
        owners += owner
        steps += 1
        sequenceSteps += tail.count
        let now = monotonicSeconds()
        let E = engine.weights.architecture.numExperts
        let readFraction = E == 0 ? 1 : Double(out.expertsComputed.reduce(0, +)) / Double(E * max(out.expertsComputed.count, 1))
        var leaving = Set<Int>()
        for (j, entry) in tail.enumerated() {
            let m = entry.member
            if m.firstLogits == nil {
                m.firstLogits = now
            } else {
                m.expertSum += readFraction
                m.steps += 1
            }
            let outcome: Result<Void, any Error> = Result {
                if m.sequence.stopReason == nil {
                    m.next = try m.sequence.choose(from: out.logits(at: tokens.count - tail.count + j), onToken: m.onToken, onLogprob: m.onLogprob)
                }
            }
            if case .failure(let error) = outcome {
                finished.append((m.handle, .failure(error)))
                leaving.insert(m.handle.number)
            } else if let reason = m.sequence.stopReason {
                let first = m.firstLogits ?? now
                finished.append((m.handle, .success(GenerationResult(
                    promptIds: m.sequence.prompt, generatedIds: m.sequence.generated, stopReason: reason, text: m.sequence.text,
                    prefillSeconds: first - m.added, decodeSeconds: now - first, logprobs: m.sequence.logprobs,
                    expertsReadFraction: E == 0 ? 1 : (m.steps > 0 ? m.expertSum / Double(m.steps) : 0)))))
                leaving.insert(m.handle.number)
            }
        }
        if !leaving.isEmpty { try drop(leaving) }
        return finished
    }

    /// Removes the members numbered `numbers` and their slots.
    private func drop(_ numbers: Set<Int>) throws {
        members.removeAll { numbers.contains($0.handle.number) }
        let kept = owners.indices.filter { !numbers.contains(owners[$0]) }
        var newIndex = [Int](repeating: -1, count: owners.count)
        for (i, s) in kept.enumerated() { newIndex[s] = i }
        try engine.retain(slots: kept)
        owners = kept.map { owners[$0] }
        for m in members where m.lastSlot >= 0 { m.lastSlot = newIndex[m.lastSlot] }
    }
}
