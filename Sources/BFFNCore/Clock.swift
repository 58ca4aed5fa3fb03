/// Seconds of the monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`): for durations and throughput figures,
/// never for wall-clock time.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
