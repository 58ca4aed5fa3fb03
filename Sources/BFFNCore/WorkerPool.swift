import CBlockFFNSystem
import Synchronization

/// A small persistent pool of worker threads for splitting one matrix product into parts.
///
/// `run(parts:threads:_:)` hands out part indices through one atomic ticket; the calling thread works too, and
/// the call returns when every part is done. A call runs on at most `threads` threads, the caller included:
/// only workers `0 ..< threads - 1` may claim its parts, and the pool starts workers when a call asks for more
/// than it has (so `--threads N` means N threads on any machine). Parts must write disjoint memory. Idle workers spin briefly (decode issues
/// hundreds of short products per token) and then sleep on a condition variable, so an idle process does not
/// burn CPU. Which thread runs which part never affects results: every output is computed by one part with a
/// fixed instruction sequence.
///
/// The ticket packs the call's number, its part count and the next unclaimed part into one 64-bit word, and a
/// part is claimed by a compare-and-exchange on the whole word. A worker that was descheduled while holding a
/// stale ticket therefore can never claim a part of a later call by mistake (with separate counters it could
/// take an index of the old call, compare it with the new call's part count and run a part twice, so the call
/// returned early and the part then ran its closure after the call had ended).
public final class WorkerPool: @unchecked Sendable {
    /// The pool used by the kernels. It starts with no workers and grows to the largest thread count a call
    /// asks for.
    public static let shared = WorkerPool(workers: 0)

    /// The CPUs this process may run on (its affinity mask, as `taskset` or a container's cpuset leaves it; else
    /// the online CPUs): the default thread count of every command.
    public static var usableCPUs: Int { UsableCPUs.count }

    /// The most parts one published call has; `run` splits larger counts into several calls.
    static let maxPartsPerCall = Int(partMask)
    private static let partBits: UInt64 = 20
    /// The low 20 bits; also the largest part count a ticket can hold.
    private static let partMask: UInt64 = 0xF_FFFF // (1 << partBits) - 1, written out so it is a constant
    /// Where the call number starts (24 bits, wrapping).
    private static let callShift: UInt64 = 40
    /// The call number's bits, once shifted down.
    private static let callNumberMask: UInt64 = (1 << (64 - callShift)) - 1

    /// Call number (bits 40-63), part count (bits 20-39), next unclaimed part (bits 0-19).
    private let ticket = Atomic<UInt64>(0)
    /// Parts of the current call that have finished.
    private let finishedParts = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    /// Workers parked on `parkCondition`: calls since they were last needed used fewer threads than their index.
    private let parked = Atomic<Int>(0)
    /// The thread limit of the call published before (only the caller holding `callMutex` uses it).
    private var previousLimit = 1
    /// The current call's thread limit, caller included (stored before the call's ticket is published).
    private let threadLimit = Atomic<Int>(1)
    /// The current call's body; written by the caller before it publishes the ticket, read only by a thread that
    /// has claimed a part of that call (so the call is still open).
    private var job: ((Int) -> Void)?
    /// Calls published so far (only the caller holding `callMutex` writes it).
    private var calls: UInt64 = 0
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    /// Where a worker that calls do not use waits (with `mutex`), until a call's thread limit includes it.
    private var parkCondition = pthread_cond_t()
    /// Serialises callers, and guards `calls` and `workerCount`. A pthread mutex rather than
    /// Synchronization.Mutex: ThreadSanitizer sees pthread locks, so `scripts/sanitize.sh tsan` can check the
    /// pool (it reports the futex-based Mutex's protected accesses as races).
    private var callMutex = pthread_mutex_t()

    /// Runs `body` holding `callMutex`.
    private func withCallLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&callMutex)
        defer { pthread_mutex_unlock(&callMutex) }
        return body()
    }
    /// Busy-wait iterations (each a `pause`, 40-140 cycles) before an idle worker sleeps (BFFN_SPIN overrides both
    /// limits, for tuning): a few hundred µs while the call's threads fit the usable CPUs, so a worker is still
    /// awake for the next product of a decode step (the serial work between two products, norms and attention, is
    /// shorter than waking sleeping workers: README, "Measured speed"); a short spin when threads outnumber the
    /// CPUs, where a spinning worker would take the caller's CPU.
    static let spinLimit = spinOverride ?? 20_000
    static let oversubscribedSpinLimit = spinOverride ?? 2_000
    private static let spinOverride: Int? = getenv("BFFN_SPIN").flatMap { Int(String(cString: $0)) }
    private static let cpusAtStart = usableCPUs
    /// Worker threads started so far (not counting callers); written under `callMutex` only.
    private var workerCount = 0
    /// Worker threads started so far (not counting callers).
    public var workers: Int { withCallLock { workerCount } }
    /// Workers parked because the calls since they were last needed asked for fewer threads (tests).
    var parkedWorkers: Int { parked.load(ordering: .sequentiallyConsistent) }

    /// Starts `workers` detached threads that live as long as the process (more start when a call asks).
    init(workers: Int) {
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&callMutex, nil)
        pthread_cond_init(&condition, nil)
        pthread_cond_init(&parkCondition, nil)
        withCallLock { startWorkers(upTo: workers) }
    }

    /// Starts workers until there are `count` (caller holds `callMutex`).
    private func startWorkers(upTo count: Int) {
        while workerCount < count {
            let index = workerCount
            workerCount += 1
            // The worker waits for the first call after the last one published, however late its thread starts.
            let start = WorkerStart(pool: self, index: index, lastCall: calls & Self.callNumberMask)
            Threads.startDetached { start.pool.workerLoop(index: start.index, lastCall: start.lastCall) }
        }
    }

    /// What a new worker thread is handed: its pool, its index and the number of the last call it may skip.
    private final class WorkerStart {
        let pool: WorkerPool, index: Int, lastCall: UInt64
        init(pool: WorkerPool, index: Int, lastCall: UInt64) {
            self.pool = pool
            self.index = index
            self.lastCall = lastCall
        }
    }

    /// Calls handed to the workers since the pool started (each a publish, a wake-up and a wait for the slowest
    /// part; `run` with one part or one thread hands nothing over). `bffn bench` reports them per decoded token.
    public var handOffs: UInt64 { withCallLock { calls } }

    /// Runs `body(0) ..< body(parts - 1)` on at most `threads` threads (the calling thread and workers
    /// `0 ..< threads - 1`, started if the pool has fewer); returns when all are done. Calls from several
    /// threads are served one at a time. Which thread runs a part never changes what the part computes.
    public func run(parts: Int, threads: Int, _ body: (Int) -> Void) {
        if parts <= 1 || threads <= 1 {
            for p in 0..<parts { body(p) }
            return
        }
        var first = 0
        while first < parts {
            let count = min(parts - first, Self.maxPartsPerCall)
            let offset = first
            publishAndWait(parts: count, threads: threads) { body(offset + $0) }
            first += count
        }
    }

    private func publishAndWait(parts: Int, threads: Int, _ body: (Int) -> Void) {
        withCallLock {
            startWorkers(upTo: threads - 1)
            withoutActuallyEscaping(body) { escaping in
                job = escaping
                finishedParts.store(0, ordering: .relaxed)
                threadLimit.store(threads, ordering: .sequentiallyConsistent)
                calls &+= 1
                let call = calls & Self.callNumberMask
                // Sequentially consistent so that the store is ordered before the load of `sleepers`: a worker
                // going to sleep either sees this call or is counted there and woken.
                ticket.store(call << Self.callShift | UInt64(parts) << Self.partBits, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(&mutex)
                    pthread_cond_broadcast(&condition)
                    pthread_mutex_unlock(&mutex)
                }
                // Parked workers wait for a call with more threads than the one before (the same Dekker pattern:
                // a worker parking either sees this limit or is counted here and woken).
                if threads > previousLimit && parked.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(&mutex)
                    pthread_cond_broadcast(&parkCondition)
                    pthread_mutex_unlock(&mutex)
                }
                previousLimit = threads
                work(call: call)
                while finishedParts.load(ordering: .acquiring) < parts { bffn_spin_pause() }
                job = nil
            }
        }
    }

    /// Claims and runs parts of call `call` until none is left or a later call has been published.
    private func work(call: UInt64) {
        var t = ticket.load(ordering: .acquiring)
        // The parts this thread ran, counted into `finishedParts` once when it finds none left to claim (one shared
        // write a thread and call instead of one a part; the caller cannot return before every claimant has added).
        var done = 0
        defer { if done > 0 { finishedParts.add(done, ordering: .releasing) } }
        while true {
            let next = t & Self.partMask, parts = (t >> Self.partBits) & Self.partMask
            if t >> Self.callShift != call || next >= parts { return }
            let (claimed, current) = ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing)
            if !claimed {
                t = current
                continue
            }
            job!(Int(next))
            done += 1
            t = ticket.load(ordering: .acquiring)
        }
    }

    /// A worker's life: wait for a new call, and take part in it when its thread limit admits worker `index`
    /// (the limit read after the ticket is this call's, or a later call's once this one has no part left).
    private func workerLoop(index: Int, lastCall: UInt64) {
        var seen = lastCall
        while true {
            var spins = 0
            let limit = threadLimit.load(ordering: .relaxed) <= WorkerPool.cpusAtStart ? WorkerPool.spinLimit : WorkerPool.oversubscribedSpinLimit
            while ticket.load(ordering: .acquiring) >> Self.callShift == seen {
                spins += 1
                if spins < limit {
                    bffn_spin_pause()
                    continue
                }
                pthread_mutex_lock(&mutex)
                _ = sleepers.add(1, ordering: .sequentiallyConsistent)
                while ticket.load(ordering: .sequentiallyConsistent) >> Self.callShift == seen { pthread_cond_wait(&condition, &mutex) }
                _ = sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
            }
            seen = ticket.load(ordering: .acquiring) >> Self.callShift
            if index < threadLimit.load(ordering: .acquiring) - 1 {
                work(call: seen)
                continue
            }
            // Not needed by this call: park without spinning until a call's limit includes this worker, so workers
            // started by a wide call (loading on every CPU) do not spin through every later, narrower call on
            // the CPUs its threads need (under `taskset -c 0,1` 15 such workers cut 2-thread prefill to a third).
            pthread_mutex_lock(&mutex)
            _ = parked.add(1, ordering: .sequentiallyConsistent)
            while index >= threadLimit.load(ordering: .sequentiallyConsistent) - 1 { pthread_cond_wait(&parkCondition, &mutex) }
            _ = parked.subtract(1, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(&mutex)
            // The call that woke it (or a later one): join it; its claimed parts are counted, a finished one is a no-op.
            seen = ticket.load(ordering: .acquiring) >> Self.callShift
            if index < threadLimit.load(ordering: .acquiring) - 1 { work(call: seen) }
        }
    }
}
