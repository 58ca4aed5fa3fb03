import BFFNCore

/// What `Checkpoint.readEveryTensor` did: how many bytes it read and how fast.
public struct TensorReadReport: Sendable {
    /// Tensors read.
    public var tensors: Int
    /// Bytes of tensor data read (each shared storage once).
    public var bytes: UInt64
    /// Wall-clock seconds.
    public var seconds: Double
    /// Read throughput in GB/s (10^9 bytes per second).
    public var gigabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e9 : 0 }

    /// `bffn inspect --check --json`'s `check` object (docs/json.md): `{passed: true, tensors, bytes_read,
    /// seconds, read_gb_per_s}` (a failed read throws instead, so `passed` is always true here).
    public var json: JSONValue {
        .object([("passed", .bool(true)), ("tensors", .integer(tensors)), ("bytes_read", .integer(bytes)),
                 ("seconds", .double(seconds)), ("read_gb_per_s", .double(gigabytesPerSecond))])
    }
}

extension Checkpoint {
    /// Reads every tensor's bytes once, as a loader would: each storage is faulted in from the mapping and
    /// every byte is touched (summed, on `threads` threads); for torch checkpoints every zip entry's CRC-32 is
    /// verified on the way. Tensors that share a storage are read once.
    /// - Throws: the first read error (a CRC mismatch names the entry and offset).
    public func readEveryTensor(threads: Int) throws -> TensorReadReport {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let start = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        var seen = Set<String>()
        var total: UInt64 = 0
        var sink: UInt64 = 0
        for t in tensors {
            if let key = t.storageKey, !t.isContiguous || seen.contains(key) {
                // Strided views and repeated storages: the storage is cached; gathering is a copy, not a read.
                if seen.contains(key) { continue }
            }
            if let key = t.storageKey { seen.insert(key) }
            let b = try bytes(of: t)
            sink &+= b.withBytes { Checkpoint.touch($0, threads: threads) }
            total += UInt64(b.bytes.count)
        }
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let end = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        withExtendedLifetime(sink) {}
        return TensorReadReport(tensors: tensors.count, bytes: total, seconds: end - start)
    }

    /// Sums every 8-byte word (so every page is read), split over `threads` threads.
    static func touch(_ bytes: UnsafeRawBufferPointer, threads: Int) -> UInt64 {
        let words = bytes.count / 8
        let pieces = max(1, min(threads, words / (1 << 20)))
        let partial = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: pieces)
        defer { partial.deallocate() }
        let shared = (bytes: bytes, partial: partial)
        WorkerPool.shared.run(parts: pieces, threads: threads) { i in
            let per = (words + pieces - 1) / pieces
            let lo = i * per, hi = min(words, lo + per)
            var s: UInt64 = 0
            if lo < hi {
                let p = shared.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let w = UnsafeRawPointer(p).assumingMemoryBound(to: UInt64.self)
                for k in lo..<hi { s &+= w[k] }
            }
            shared.partial[i] = s
        }
        var s = partial.reduce(0, &+)
        for k in (words * 8)..<bytes.count { s &+= UInt64(bytes[k]) }
        return s
    }
}
