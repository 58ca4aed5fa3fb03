import BFFNCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A small persistent pool of worker threads for splitting one matrix product into parts.
///
/// `run(parts:_:)` hands out part indices through an atomic counter; the calling thread works too, and the call
/// returns when every part is done. Parts must write disjoint memory. Idle workers spin briefly (decode issues
/// hundreds of short products per token) and then sleep on a condition variable, so an idle process does not
/// burn CPU. Which thread runs which part never affects results: every output is computed by one part with a
/// fixed instruction sequence.
public final class WorkerPool: @unchecked Sendable {
    /// The pool used by the kernels: one worker per online CPU beyond the caller.
    public static let shared = WorkerPool(workers: max(0, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1))

    private let generation = Atomic<Int>(0)
    private let nextPart = Atomic<Int>(0)
    private let donePart = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private var parts = 0
    private var job: ((Int) -> Void)?
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private let callLock = Lock()
    /// Busy-wait iterations before an idle worker sleeps (BFFN_SPIN overrides, for tuning).
    static let spinLimit: Int = {
        if let v = getenv("BFFN_SPIN"), let n = Int(String(cString: v)) { return n }
        return 2_000
    }()
    /// Worker threads (not counting callers).
    public let workers: Int

    init(workers: Int) {
        self.workers = workers
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<workers {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(self).toOpaque()
            pthread_create(&thread, nil, { arg in
                let pool = Unmanaged<WorkerPool>.fromOpaque(arg!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, box)
            pthread_detach(thread)
        }
    }

    /// Runs `body(0) ..< body(parts - 1)` across the pool and the calling thread; returns when all are done.
    public func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 || workers == 0 {
            for p in 0..<parts { body(p) }
            return
        }
        callLock.withLock {
            withoutActuallyEscaping(body) { escaping in
                job = escaping
                self.parts = parts
                donePart.store(0, ordering: .relaxed)
                // Publishes job and parts to any worker that sees the reset counter.
                nextPart.store(0, ordering: .releasing)
                generation.add(1, ordering: .releasing)
                if sleepers.load(ordering: .acquiring) > 0 {
                    pthread_mutex_lock(&mutex)
                    pthread_cond_broadcast(&condition)
                    pthread_mutex_unlock(&mutex)
                }
                work()
                while donePart.load(ordering: .acquiring) < parts {}
                job = nil
            }
        }
    }

    private func work() {
        while true {
            let p = nextPart.add(1, ordering: .acquiringAndReleasing).oldValue
            if p >= parts { return }
            job!(p)
            donePart.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < WorkerPool.spinLimit { continue }
                pthread_mutex_lock(&mutex)
                _ = sleepers.add(1, ordering: .acquiringAndReleasing)
                while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(&condition, &mutex) }
                _ = sleepers.subtract(1, ordering: .acquiringAndReleasing)
                pthread_mutex_unlock(&mutex)
            }
            seen = generation.load(ordering: .acquiring)
            work()
        }
    }
}
