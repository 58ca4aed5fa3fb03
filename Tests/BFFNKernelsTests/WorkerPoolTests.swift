@testable import BFFNKernels
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
                pool.run(parts: parts) { p in
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
        pool.run(parts: parts) { runs[$0] &+= 1 }
        #expect((0..<parts).allSatisfy { runs[$0] == 1 })
    }
}
