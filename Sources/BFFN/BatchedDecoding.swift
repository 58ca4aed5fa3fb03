import BFFNCore
import BFFNEngine
import Dispatch
import Synchronization

/// Concurrent plain generations on one model, decoded together (`BlockFFNModel.Options.parallelSequences`).
///
/// Each `run` call adds its sequence to a `SequenceBatch` and blocks until the sequence is finished. There is no
/// thread of its own: one of the callers at a time drives the batch (steps it until its own sequence is done, then
/// hands the role to another waiting caller), so the engine runs on the callers' threads as with plain decoding,
/// and `onToken` callbacks run on the driving caller's thread, one at a time. At most `limit` sequences share the
/// batch; later callers wait for a place, first come first served.
final class BatchedDecoding: Sendable {
    /// One caller's sequence. `result` is guarded by `state`; the rest is set once.
    private final class Request: @unchecked Sendable {
        let prompt: [Int]
        let options: GenerationOptions
        let onToken: (Int) throws -> Void
        let onLogprob: ((TokenLogprob) -> Void)?
        /// Signalled when the result is in, or when the caller should take over driving.
        let wake = DispatchSemaphore(value: 0)
        var result: Result<GenerationResult, any Error>?

        init(prompt: [Int], options: GenerationOptions, onToken: @escaping (Int) throws -> Void, onLogprob: ((TokenLogprob) -> Void)?) {
            self.prompt = prompt
            self.options = options
            self.onToken = onToken
            self.onLogprob = onLogprob
        }
    }

    private struct State {
        /// Requests not yet in the batch, in arrival order.
        var incoming: [Request] = []
        /// Whether a caller is driving the batch now.
        var driving = false
        /// Requests whose caller has not returned yet.
        var live: [ObjectIdentifier: Request] = [:]
    }

    /// What only the driving caller touches.
    private final class Driver: @unchecked Sendable {
        let batch: SequenceBatch
        var requests: [SequenceBatch.Handle: Request] = [:]
        init(batch: SequenceBatch) { self.batch = batch }
    }

    private let state = Mutex(State())
    private let driver: Driver
    /// The most sequences decoded together.
    let limit: Int
    /// Held during each step (the engine and an expert cache are in use); memory reports take it too.
    let engineLock = Mutex(())

    /// Batches on `engine`, whose cache it owns from now on; prompts are read `prefillChunk` ids a call at most.
    init(engine: Engine, limit: Int, prefillChunk: Int = 256) {
        driver = Driver(batch: SequenceBatch(engine: engine, prefillChunk: prefillChunk))
        self.limit = max(1, limit)
    }

    /// Forward calls made, and sequences that got logits summed over them (their ratio is the mean batch).
    var statistics: (steps: Int, sequenceSteps: Int) {
        engineLock.withLock { _ in (driver.batch.steps, driver.batch.sequenceSteps) }
    }

    /// Decodes `prompt` as `options` say, with other callers' sequences in the same forward calls; `onToken` gets each
    /// chosen id (and `onLogprob` its log-probabilities, with `options.logprobs`). The ids are those `GreedyDecoder.generate` gives alone (the engine is batch-invariant).
    /// - Throws: `DecodingSequence`'s and the engine's errors; what `onToken` throws.
    func run(prompt: [Int], options: GenerationOptions, onToken: @escaping (Int) throws -> Void,
             onLogprob: ((TokenLogprob) -> Void)? = nil) throws -> GenerationResult {
        let me = Request(prompt: prompt, options: options, onToken: onToken, onLogprob: onLogprob)
        state.withLock {
            $0.incoming.append(me)
            $0.live[ObjectIdentifier(me)] = me
        }
        enum Role { case done(Result<GenerationResult, any Error>), drive, wait }
        while true {
            let role: Role = state.withLock { s in
                if let result = me.result {
                    s.live[ObjectIdentifier(me)] = nil
                    // Nobody drives: wake a caller still waiting, so the sequences left go on.
                    if !s.driving, let other = s.live.values.first { other.wake.signal() }
                    return .done(result)
                }
                if !s.driving {
                    s.driving = true
                    return .drive
                }
                return .wait
            }
            switch role {
            case .done(let result): return try result.get()
            case .wait: me.wake.wait()
            case .drive:
                drive(until: me)
                state.withLock { $0.driving = false }
            }
        }
    }

    /// Steps the batch until `me` has its result, taking new requests in as places free up.
    private func drive(until me: Request) {
        let batch = driver.batch
        while true {
            let fresh: [Request]? = state.withLock { s in
                if me.result != nil { return nil }
                let taken = Array(s.incoming.prefix(max(0, limit - batch.count)))
                s.incoming.removeFirst(taken.count)
                return taken
            }
            guard let fresh else { return }
            for r in fresh {
                do {
                    driver.requests[try batch.add(prompt: r.prompt, options: r.options, onToken: r.onToken, onLogprob: r.onLogprob)] = r
                } catch {
                    finish(r, .failure(error))
                }
            }
            guard batch.count > 0 else { continue }
            do {
                let finished = try engineLock.withLock { _ in try batch.step() }
                for (handle, outcome) in finished {
                    if let r = driver.requests.removeValue(forKey: handle) { finish(r, outcome) }
                }
            } catch {
                // The step failed for every sequence in it (the batch emptied itself).
                for r in driver.requests.values { finish(r, .failure(error)) }
                driver.requests.removeAll()
            }
        }
    }

    private func finish(_ r: Request, _ outcome: Result<GenerationResult, any Error>) {
        state.withLock { _ in r.result = outcome }
        r.wake.signal()
    }
}
