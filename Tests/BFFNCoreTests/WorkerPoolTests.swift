@testable import BFFNCore
import Dispatch
import Synchronization
import Testing
/// The worker pool under contention: more threads than CPUs, several callers at once, part counts that change
/// from one call to the next. Every part must run exactly once, and none after its call has returned.
@Suite("worker pool")
struct WorkerPoolTests {
    /// One caller's bookkeeping, written by the parts of its calls and read by the caller after each call.
    final class Ledger: @unchecked Sendable {
        /// How often each part ran in the current call (parts write disjoint slots).
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        /// Parts that ran while no call of this caller was open.
        let late = Atomic<Int>(0)
        let open = Atomic<Bool>(false)
        deinit { runs.deallocate() }
    }

    /// Failures summed over callers.
    final class Tally: Sendable {
        let failures = Atomic<Int>(0)
    }

    /// A call handed to the workers counts once (a call of more parts than one publish holds, once a publish); one
    /// part or one thread runs on the caller and hands nothing over.
    @Test func handOffsCountThePublishedCalls() {
        let pool = WorkerPool(workers: 3)
        let before = pool.handOffs
        pool.run(parts: 4, threads: 2) { _ in }
        pool.run(parts: 1, threads: 4) { _ in }
        pool.run(parts: 8, threads: 1) { _ in }
        #expect(pool.handOffs == before + 1)
        pool.run(parts: WorkerPool.maxPartsPerCall + 1, threads: 3) { _ in }
        #expect(pool.handOffs == before + 3)
    }

    @Test func everyPartRunsExactlyOnceWhileItsCallIsOpen() {
        let pool = WorkerPool(workers: 5)
        let tally = Tally()
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            let ledger = Ledger()
            var seed = UInt32(caller + 1)
            for _ in 0..<20_000 {
                seed = seed &* 1_664_525 &+ 1_013_904_223
                let parts = Int(seed >> 16) % 12 + 2
                for p in 0..<parts { ledger.runs[p] = 0 }
                ledger.open.store(true, ordering: .sequentiallyConsistent)
                pool.run(parts: parts, threads: 6) { p in
                    if !ledger.open.load(ordering: .sequentiallyConsistent) { ledger.late.add(1, ordering: .relaxed) }
                    ledger.runs[p] += 1
                }
                ledger.open.store(false, ordering: .sequentiallyConsistent)
                for p in 0..<parts where ledger.runs[p] != 1 { tally.failures.add(1, ordering: .relaxed) }
            }
            tally.failures.add(ledger.late.load(ordering: .relaxed), ordering: .relaxed)
        }
        #expect(tally.failures.load(ordering: .relaxed) == 0)
    }
}

extension WorkerPoolTests {
    @Test func morePartsThanOneCallHoldsAreAllRun() {
        let pool = WorkerPool(workers: 2)
        let parts = WorkerPool.maxPartsPerCall + 37
        let runs = UnsafeMutablePointer<UInt8>.allocate(capacity: parts)
        defer { runs.deallocate() }
        runs.initialize(repeating: 0, count: parts)
        pool.run(parts: parts, threads: 3) { runs[$0] &+= 1 }
        #expect((0..<parts).allSatisfy { runs[$0] == 1 })
    }
}

extension WorkerPoolTests {
    /// The distinct threads that ran the parts of one call. Each part waits (sleeping, up to 2 s) until
    /// `expected` distinct threads have arrived (at most `patience` ms), so every admitted thread gets the chance
    /// to take a part even on a machine with fewer CPUs; a limit that let in more threads would show more.
    static func threadsSeen(pool: WorkerPool, parts: Int, threads: Int, expected: Int, patience: Int) -> Int {
        let seen = PThreadLocked<Set<UInt>>([])
        pool.run(parts: parts, threads: threads) { _ in
            let me = Threads.currentID
            seen.withLock { _ = $0.insert(me) }
            var waited = 0
            while seen.withLock({ $0.count }) < expected && waited < patience {
                usleep(1_000)
                waited += 1
            }
        }
        return seen.withLock { $0.count }
    }

    @Test func aCallRunsOnExactlyTheThreadsItAsksFor() {
        let pool = WorkerPool(workers: 0)
        // The pool grows to the request: 4 threads (the caller and 3 workers), on any number of CPUs.
        #expect(Self.threadsSeen(pool: pool, parts: 8, threads: 4, expected: 4, patience: 5_000) == 4)
        #expect(pool.workers == 3)
        // A later, smaller request is held to its limit although more workers exist now.
        #expect(Self.threadsSeen(pool: pool, parts: 4, threads: 2, expected: 3, patience: 100) == 2)
        #expect(Self.threadsSeen(pool: pool, parts: 4, threads: 1, expected: 2, patience: 100) == 1)
        #expect(pool.workers == 3)
    }
}

extension WorkerPoolTests {
    /// Waits (up to 5 s) until `count` workers are parked; returns the number parked then.
    static func parked(_ pool: WorkerPool, reaching count: Int) -> Int {
        for _ in 0..<5_000 where pool.parkedWorkers != count { usleep(1_000) }
        return pool.parkedWorkers
    }

    @Test func workersANarrowerCallDoesNotUseParkUntilAWiderOne() {
        let pool = WorkerPool(workers: 0)
        #expect(Self.threadsSeen(pool: pool, parts: 12, threads: 6, expected: 6, patience: 5_000) == 6)
        // Two threads a call: workers 1 ... 4 park instead of spinning through every call; worker 0 stays.
        for _ in 0..<3 { pool.run(parts: 4, threads: 2) { _ in } }
        #expect(Self.parked(pool, reaching: 4) == 4)
        // A wider call wakes them and every one takes part again.
        #expect(Self.threadsSeen(pool: pool, parts: 12, threads: 6, expected: 6, patience: 5_000) == 6)
        #expect(Self.parked(pool, reaching: 0) == 0)
        pool.run(parts: 4, threads: 3) { _ in }
        #expect(Self.parked(pool, reaching: 3) == 3)
    }

    @Test func everyPartRunsOnceWhileThreadCountsChangeFromCallToCall() {
        let pool = WorkerPool(workers: 0)
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        defer { runs.deallocate() }
        var seed: UInt32 = 99, failures = 0
        for _ in 0..<20_000 {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            let parts = Int(seed >> 16) % 14 + 2, threads = Int(seed >> 8) % 6 + 1
            runs.initialize(repeating: 0, count: parts)
            pool.run(parts: parts, threads: threads) { runs[$0] += 1 }
            failures += (0..<parts).filter { runs[$0] != 1 }.count
        }
        #expect(failures == 0)
    }
}

/// A value behind a pthread mutex (which ThreadSanitizer sees, unlike Synchronization.Mutex's futex).
final class PThreadLocked<Value>: @unchecked Sendable {
    private var value: Value
    private var mutex = pthread_mutex_t()
    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(&value)
    }
}
