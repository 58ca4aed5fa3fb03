/// The server's generation slots and the bounded queue in front of them.
///
/// A request takes a slot (one opened model) for the whole of its generation. When all are busy it waits in a
/// first-come, first-served queue of at most `maxQueue` requests; a request that finds the queue full is refused at
/// once (429, code `queue_full`), and one that waits longer than `queueTimeout` leaves the queue (429, code
/// `queue_timeout`). A waiter whose task is cancelled leaves the queue too.
actor SlotPool {
    private var free: [Int]
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Int, any Error>)] = []
    private var nextWaiter: UInt64 = 0
    let slots: Int
    let maxQueue: Int
    let queueTimeout: Duration
    let metrics: ServerMetrics

    init(slots: Int, maxQueue: Int, queueTimeout: Duration, metrics: ServerMetrics) {
        self.slots = slots
        free = Array((0..<slots).reversed())
        self.maxQueue = maxQueue
        self.queueTimeout = queueTimeout
        self.metrics = metrics
    }

    /// Requests waiting for a slot.
    var queued: Int { waiters.count }

    /// A free slot's index, after waiting in the queue if needed.
    /// - Throws: `APIError` 429 `queue_full` or `queue_timeout`; `CancellationError` when the task is cancelled while
    ///   waiting.
    func acquire() async throws -> Int {
        if let slot = free.popLast() {
            metrics.slotTaken()
            return slot
        }
        guard waiters.count < maxQueue else {
            throw APIError(status: 429, message: "all \(slots) slots are busy and \(maxQueue) requests are already waiting; retry later",
                           type: "rate_limit_error", code: "queue_full")
        }
        let id = nextWaiter
        nextWaiter += 1
        let timeout = queueTimeout
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            await self?.leave(id, with: APIError(status: 429, message: "no slot became free within the queue timeout; retry later",
                                                 type: "rate_limit_error", code: "queue_timeout"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append((id, continuation))
                metrics.setQueueLength(waiters.count)
            }
        } onCancel: {
            Task { await self.leave(id, with: CancellationError()) }
        }
    }

    /// Gives `slot` to the first waiter, or back to the free list.
    func release(_ slot: Int) {
        if waiters.isEmpty {
            free.append(slot)
            metrics.slotReleased()
        } else {
            let w = waiters.removeFirst()
            metrics.setQueueLength(waiters.count)
            w.continuation.resume(returning: slot)
        }
    }

    private func leave(_ id: UInt64, with error: any Error) {
        guard let i = waiters.firstIndex(where: { $0.id == id }) else { return }
        let w = waiters.remove(at: i)
        metrics.setQueueLength(waiters.count)
        w.continuation.resume(throwing: error)
    }
}
