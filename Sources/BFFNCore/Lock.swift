#if canImport(Glibc)
import Glibc
#endif

/// A mutex (pthread) for the few caches readers share between threads.
public final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    /// Creates an unlocked mutex.
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    /// Runs `body` while holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
