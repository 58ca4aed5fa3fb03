import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack
import Dispatch

/// A bounded cache of a pack's expert blocks, read on demand with `pread` into a fixed pool of aligned slots: the
/// engine's expert provider when a model must run within a memory budget (`--memory-budget`; README, "Running
/// within a memory budget"). Dense weights stay mapped; experts are never touched through the mapping.
///
/// Policy: least recently used, except that a deployment pack's resident experts (its first `resident_count`
/// slots per layer) are never evicted once read. A layer's whole union is fetched before it is computed, so
/// the pool holds at least one layer's experts. With `prefetch` k > 0, while a layer computes a background read
/// fetches the next layer's k most used experts that are not cached (packs from `bffn pack` store experts
/// most-used first, by the calibration's counts, so these are its first slots) into k spare buffers; blocks
/// the next layer then asks for are taken from there instead of read, the others are dropped (their reads
/// still count). Each block's CRC-32 is checked the first time it is read (unless
/// asked not to). Reads bypass the page cache where the file system allows it (`UncachedReads`: O_DIRECT on
/// Linux, F_NOCACHE on Darwin), else are ordinary reads followed by `FileCacheAdvice.dropCachedPages`.
///
/// Threads: the engine's thread calls `matrices`; the one background read at a time touches only the spare
/// buffers and its own result until `matrices` waits for it, so no memory is shared while both run.
public final class ExpertCache: ExpertProvider, @unchecked Sendable {
    /// What the cache did.
    public struct Statistics: Sendable {
        /// Block requests, and those found in the pool.
        public var requests = 0, hits = 0
        /// Blocks and bytes read from the file.
        public var blocksRead = 0, bytesRead = 0
        /// Seconds spent waiting for reads.
        public var stallSeconds = 0.0
        /// Whether reads bypass the page cache (`UncachedReads`: O_DIRECT on Linux, F_NOCACHE on Darwin).
        public var directIO = false
        /// Blocks read ahead, and those a later request used.
        public var prefetched = 0, prefetchUsed = 0
        public var hitRate: Double { requests > 0 ? Double(hits) / Double(requests) : 1 }
    }

    public let pack: PackFile
    /// Slots in the pool.
    public let capacity: Int
    public private(set) var statistics = Statistics()
    private let experts: PackFile.Experts
    private let verifyBlocks: Bool
    private let fd: Int32
    private let allocation: UnsafeMutableRawPointer
    /// Each pool slot's buffer, and the spare buffers of the read-ahead (buffers move between the two).
    private var buffers: [UnsafeMutableRawPointer]
    private var spare: [UnsafeMutableRawPointer]
    private let prefetchCount: Int
    private let prefetchGroup = DispatchGroup()
    /// The read-ahead in flight: its keys (in spare-buffer order), and what it found.
    private var pendingKeys: [Int] = []
    private final class Outcome: @unchecked Sendable { var error: BFFNError?; var bytes = 0; var seconds = 0.0 }
    private var outcome = Outcome()
    private let slotBytes: Int
    /// Block key (layer · E + slot) → pool slot, and back; last use per pool slot.
    private var slotOfBlock: [Int: Int] = [:]
    private var blockInSlot: [Int]
    private var lastUse: [Int]
    private var clock = 0
    private var verified: Set<Int> = []
    private var pinned: Set<Int> = []

    /// The bytes a budget leaves for expert slots: the budget minus the dense section (which stays mapped and
    /// resident). Throws when that is less than one layer's experts.
    /// - Throws: `.budgetExceeded` naming what does not fit.
    public static func capacity(of pack: PackFile, budgetBytes: UInt64) throws -> Int {
        guard let e = pack.experts else { throw BFFNError(.unsupported, "a dense model has no experts to stream", file: pack.path, field: "experts") }
        let dense = pack.denseBytes
        let room = budgetBytes > dense ? budgetBytes - dense : 0
        let slots = Int(room / e.blockBytes)
        guard slots >= e.count else {
            throw BFFNError(.budgetExceeded, "a budget of \(budgetBytes) bytes leaves \(room) after the dense weights (\(dense) bytes): fewer than one layer's \(e.count) expert blocks of \(e.blockBytes) bytes; at least \(dense + UInt64(e.count) * e.blockBytes) bytes are needed",
                            file: pack.path, field: "memory-budget")
        }
        return min(slots, e.layers * e.count)
    }

    /// The cache a deployment pack (one with a resident/streamed split) runs with by default: its resident
    /// experts plus one layer's slots; nil for a pack without a split.
    public static func deploymentCapacity(of pack: PackFile) -> Int? {
        guard let e = pack.experts, e.residentCount < e.count else { return nil }
        return e.layers * e.residentCount + e.count
    }

    /// Attaches an expert cache to `engine` when a budget is given, or when `modelPath` is a pack with a
    /// deployment split (then its resident experts and one layer's slots): what `generate`, `verify` and `bench`
    /// do for `--memory-budget`. `prefetch` read-ahead buffers come out of the capacity, never below one layer's
    /// slots. Returns the cache, or nil when none is attached (a checkpoint or a pack without a split and no
    /// budget, or a dense pack).
    /// - Throws: `.usage` for a budget on a checkpoint (convert it first); the pack's reader errors; the cache's
    ///   (`.budgetExceeded` for a budget below the dense weights plus one layer's experts).
    @discardableResult
    public static func attach(to engine: Engine, modelPath: String, budgetBytes budget: UInt64?, prefetch: Int = 0,
                              verifyBlocks: Bool = true) throws -> ExpertCache? {
        guard PackFile.isPack(path: modelPath) else {
            if budget != nil { throw BFFNError(.usage, "--memory-budget streams experts from a .bfpk pack; convert the checkpoint first", file: modelPath, field: "memory-budget") }
            return nil
        }
        let pack = try PackFile(path: modelPath)
        guard let e = pack.experts else { return nil }
        guard let capacity = try budget.map({ try capacity(of: pack, budgetBytes: $0) }) ?? deploymentCapacity(of: pack) else {
            return nil
        }
        let ahead = max(0, min(prefetch, capacity - e.count))
        let cache = try ExpertCache(pack: pack, capacity: capacity - ahead, prefetch: ahead, verifyBlocks: verifyBlocks)
        engine.expertProvider = cache
        return cache
    }

    /// A cache of `capacity` blocks over `pack`, with `prefetch` spare buffers for reading ahead (0: none).
    /// - Throws: `.io` when the pack cannot be opened for reading; `.usage` for a capacity below one layer's experts.
    public init(pack: PackFile, capacity: Int, prefetch: Int = 0, verifyBlocks: Bool = true) throws {
        guard let e = pack.experts else { throw BFFNError(.unsupported, "a dense model has no experts to stream", file: pack.path, field: "experts") }
        guard capacity >= e.count else { throw BFFNError(.usage, "an expert cache needs room for one layer's \(e.count) experts", field: "memory-budget") }
        self.pack = pack
        self.experts = e
        self.capacity = capacity
        self.verifyBlocks = verifyBlocks
        slotBytes = Int(e.blockBytes)
        // O_DIRECT needs aligned offsets and lengths (`UncachedReads.alignment`): the pack's alignment must be a multiple.
        var direct: Int32? = nil
        if Int(pack.header.alignment) % UncachedReads.alignment == 0 { direct = UncachedReads.open(pack.path) }
        if let direct {
            fd = direct
            statistics.directIO = true
        } else {
            fd = open(pack.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BFFNError(.io, "cannot open for reading: \(String(cString: strerror(errno)))", file: pack.path) }
        }
        var p: UnsafeMutableRawPointer? = nil
        let k = max(0, min(prefetch, e.count))
        guard posix_memalign(&p, 4096, (capacity + k) * slotBytes) == 0, let p else {
            close(fd)
            throw BFFNError(.limitExceeded, "cannot allocate \(capacity + k) expert slots of \(slotBytes) bytes", field: "memory-budget")
        }
        allocation = p
        buffers = (0..<capacity).map { p + $0 * e.blockBytes.asInt }
        spare = (0..<k).map { p + (capacity + $0) * e.blockBytes.asInt }
        prefetchCount = k
        blockInSlot = [Int](repeating: -1, count: capacity)
        lastUse = [Int](repeating: -1, count: capacity)
        if e.residentCount < e.count {
            for l in 0..<e.layers { for s in 0..<e.residentCount { pinned.insert(l * e.count + s) } }
        }
    }

    deinit {
        prefetchGroup.wait()
        close(fd)
        free(allocation)
    }

    /// Forgets the statistics (the contents stay).
    public func resetStatistics() {
        let direct = statistics.directIO
        statistics = Statistics()
        statistics.directIO = direct
    }

    public func matrices(layer: Int, slots: [Int], mapped: ExpertWeights) throws -> (up: [WeightMatrix], down: [WeightMatrix]) {
        let E = experts.count
        // The read-ahead of this layer, if any, is finished before anything else.
        var ahead: [Int: Int] = [:]   // key → spare buffer index
        if !pendingKeys.isEmpty {
            let t0 = monotonicSeconds()
            prefetchGroup.wait()
            statistics.stallSeconds += monotonicSeconds() - t0
            let done = outcome
            outcome = Outcome()
            statistics.bytesRead += done.bytes
            statistics.blocksRead += pendingKeys.count
            statistics.prefetched += pendingKeys.count
            if let e = done.error { pendingKeys = []; throw e }
            for (j, key) in pendingKeys.enumerated() { ahead[key] = j }
            pendingKeys = []
        }
        var poolSlots: [Int] = []
        var needed = Set(slots.map { layer * E + $0 })
        for s in slots {
            let key = layer * E + s
            statistics.requests += 1
            clock += 1   // one tick per request: recency is strict, as ExpertCacheSimulator's
            if let p = slotOfBlock[key] {
                statistics.hits += 1
                lastUse[p] = clock
                poolSlots.append(p)
                continue
            }
            let p = try victim(excluding: needed)
            if blockInSlot[p] >= 0 { slotOfBlock[blockInSlot[p]] = nil }
            if let j = ahead[key] {
                // Read ahead: the spare buffer becomes the slot's, the slot's old buffer the spare.
                swap(&buffers[p], &spare[j])
                try verify(layer: layer, slot: s, buffer: buffers[p])
                statistics.prefetchUsed += 1
            } else {
                try read(layer: layer, slot: s, into: buffers[p])
            }
            blockInSlot[p] = key
            slotOfBlock[key] = p
            lastUse[p] = clock
            poolSlots.append(p)
            needed.insert(key)
        }
        startReadAhead(layer: (layer + 1) % experts.layers)
        let ups = poolSlots.map { WeightMatrix(base: UnsafeRawPointer(buffers[$0]), type: experts.upStorage, rows: experts.expertSize, cols: experts.hiddenSize) }
        let downs = poolSlots.map { WeightMatrix(base: UnsafeRawPointer(buffers[$0] + Int(experts.upBytes)), type: experts.downStorage,
                                                 rows: experts.hiddenSize, cols: experts.expertSize) }
        return (ups, downs)
    }

    /// The next layer's experts as its router scores the current layer's input (the residual stream changes
    /// little from one layer to the next): slots with a positive approximate score, highest first.
    private var predicted: (layer: Int, slots: [Int])?

    public func prepare(layer: Int, input: [Float], tokens T: Int, weights: ModelWeights) {
        guard prefetchCount > 0, layer + 1 < weights.layers.count, case .experts(let next) = weights.layers[layer + 1].ffn else {
            predicted = nil
            return
        }
        let H = weights.architecture.hiddenSize, E = next.router.rows
        var best = [Float](repeating: 0, count: E)
        for e in 0..<E {
            let row = next.router.rowValues(e)
            for t in 0..<T {
                var s: Float = 0
                for j in 0..<H { s += row[j] * input[t * H + j] }
                best[e] = max(best[e], s)
            }
        }
        predicted = (layer + 1, (0..<E).filter { best[$0] > 0 }.sorted { best[$0] > best[$1] })
    }

    /// Starts reading `layer`'s likely slots that are not cached (the router's guess from `prepare`, else the
    /// first slots, the most used in a hot-first pack) into the spare buffers.
    private func startReadAhead(layer: Int) {
        guard prefetchCount > 0 else { return }
        let E = experts.count
        let order = predicted.flatMap { $0.layer == layer ? $0.slots : nil } ?? Array(0..<E)
        predicted = nil
        let keys = order.map { layer * E + $0 }.filter { slotOfBlock[$0] == nil }.prefix(prefetchCount)
        guard !keys.isEmpty else { return }
        pendingKeys = Array(keys)
        // Addresses travel as integers: the spare buffers are this task's alone until `matrices` waits for it.
        let jobs = zip(pendingKeys, spare).map { (offset: experts.blockOffset(layer: $0.0 / E, slot: $0.0 % E), buffer: UInt(bitPattern: $0.1)) }
        let result = outcome, fd = fd, size = slotBytes, direct = statistics.directIO, path = pack.path
        prefetchGroup.enter()
        DispatchQueue.global().async { [prefetchGroup] in
            let t0 = monotonicSeconds()
            for job in jobs {
                if let e = ExpertCache.readBlock(fd: fd, offset: job.offset, into: UnsafeMutableRawPointer(bitPattern: job.buffer)!, size: size, direct: direct, path: path, field: "read-ahead") {
                    result.error = e
                    break
                }
                result.bytes += size
            }
            result.seconds = monotonicSeconds() - t0
            prefetchGroup.leave()
        }
    }

    /// A free pool slot, else the least recently used one whose block is neither pinned nor needed now.
    private func victim(excluding needed: Set<Int>) throws -> Int {
        var best = -1
        for p in 0..<capacity {
            let key = blockInSlot[p]
            if key < 0 { return p }
            if needed.contains(key) || pinned.contains(key) { continue }
            if best < 0 || lastUse[p] < lastUse[best] { best = p }
        }
        guard best >= 0 else {
            throw BFFNError(.budgetExceeded, "the expert cache is full of pinned and needed blocks; give a larger --memory-budget", field: "memory-budget")
        }
        return best
    }

    /// Reads one block with pread; nil on success, else the error.
    private static func readBlock(fd: Int32, offset: UInt64, into destination: UnsafeMutableRawPointer, size: Int, direct: Bool,
                                  path: String, field: String) -> BFFNError? {
        var done = 0
        while done < size {
            let n = pread(fd, destination + done, size - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                return BFFNError(n == 0 ? .truncated : .io, n == 0 ? "the file ends inside an expert block" : "read failed: \(String(cString: strerror(errno)))",
                                 file: path, field: field, offset: offset + UInt64(done))
            }
            done += n
        }
        if !direct { FileCacheAdvice.dropCachedPages(of: fd, offset: Int64(offset), length: Int64(size)) }
        return nil
    }

    private func read(layer: Int, slot: Int, into destination: UnsafeMutableRawPointer) throws {
        let offset = experts.blockOffset(layer: layer, slot: slot)
        let t0 = monotonicSeconds()
        if let e = Self.readBlock(fd: fd, offset: offset, into: destination, size: slotBytes, direct: statistics.directIO, path: pack.path,
                                  field: "layer \(layer) expert \(experts.order[layer][slot])") { throw e }
        statistics.stallSeconds += monotonicSeconds() - t0
        statistics.blocksRead += 1
        statistics.bytesRead += slotBytes
        try verify(layer: layer, slot: slot, buffer: destination)
    }

    /// Checks a block's CRC-32 the first time it is read (unless verification is off).
    private func verify(layer: Int, slot: Int, buffer destination: UnsafeMutableRawPointer) throws {
        let offset = experts.blockOffset(layer: layer, slot: slot)
        let key = layer * experts.count + slot
        if verifyBlocks && !verified.contains(key) {
            guard CRC32.checksum(UnsafeRawBufferPointer(start: destination, count: Int(experts.dataBytes))) == experts.blockCRCs[layer][slot] else {
                throw BFFNError(.checksumMismatch, "expert block CRC-32 does not match (layer \(layer), expert \(experts.order[layer][slot]), slot \(slot))",
                                file: pack.path, field: "layer \(layer) expert \(experts.order[layer][slot])", offset: offset)
            }
            verified.insert(key)
        }
    }
}

private extension UInt64 {
    var asInt: Int { Int(self) }
}
