import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack
import CBlockFFNSystem

#if canImport(Glibc)
import Glibc
#endif

/// A bounded cache of a pack's expert blocks, read on demand with `pread` into a fixed pool of aligned slots: the
/// engine's expert provider when a model must run within a memory budget (`--memory-budget`; README, "Running
/// within a memory budget"). Dense weights stay mapped; experts are never touched through the mapping.
///
/// Policy: least recently used, except that a deployment pack's resident experts (its first `resident_count`
/// slots per layer) are never evicted once read. A layer's whole union is fetched before it is computed, so
/// the pool holds at least one layer's experts. Each block's CRC-32 is checked the first time it is read (unless
/// asked not to). Reads use O_DIRECT where the file system allows it (then the page cache does not keep the
/// blocks), else ordinary reads followed by `POSIX_FADV_DONTNEED`.
public final class ExpertCache: ExpertProvider {
    /// What the cache did.
    public struct Statistics: Sendable {
        /// Block requests, and those found in the pool.
        public var requests = 0, hits = 0
        /// Blocks and bytes read from the file.
        public var blocksRead = 0, bytesRead = 0
        /// Seconds spent waiting for reads.
        public var stallSeconds = 0.0
        /// Whether reads bypass the page cache (O_DIRECT).
        public var directIO = false
        public var hitRate: Double { requests > 0 ? Double(hits) / Double(requests) : 1 }
    }

    public let pack: PackFile
    /// Slots in the pool.
    public let capacity: Int
    public private(set) var statistics = Statistics()
    private let experts: PackFile.Experts
    private let verifyBlocks: Bool
    private let fd: Int32
    private let pool: UnsafeMutableRawPointer
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
        let dense = pack.tensors.reduce(UInt64(0)) { $0 + $1.bytes }
        let room = budgetBytes > dense ? budgetBytes - dense : 0
        let slots = Int(room / e.blockBytes)
        guard slots >= e.count else {
            throw BFFNError(.budgetExceeded, "a budget of \(budgetBytes) bytes leaves \(room) after the dense weights (\(dense) bytes): fewer than one layer's \(e.count) expert blocks of \(e.blockBytes) bytes; at least \(dense + UInt64(e.count) * e.blockBytes) bytes are needed",
                            file: pack.path, field: "memory-budget")
        }
        return min(slots, e.layers * e.count)
    }

    /// A cache of `capacity` blocks over `pack`.
    /// - Throws: `.io` when the pack cannot be opened for reading; `.usage` for a capacity below one layer's experts.
    public init(pack: PackFile, capacity: Int, verifyBlocks: Bool = true) throws {
        guard let e = pack.experts else { throw BFFNError(.unsupported, "a dense model has no experts to stream", file: pack.path, field: "experts") }
        guard capacity >= e.count else { throw BFFNError(.usage, "an expert cache needs room for one layer's \(e.count) experts", field: "memory-budget") }
        self.pack = pack
        self.experts = e
        self.capacity = capacity
        self.verifyBlocks = verifyBlocks
        slotBytes = Int(e.blockBytes)
        // O_DIRECT needs 4096-aligned offsets and lengths: the pack's alignment must be a multiple.
        var direct: Int32 = -1
        if pack.header.alignment % 4096 == 0 { direct = bffn_open_direct(pack.path) }
        if direct >= 0 {
            fd = direct
            statistics.directIO = true
        } else {
            fd = open(pack.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BFFNError(.io, "cannot open for reading: \(String(cString: strerror(errno)))", file: pack.path) }
        }
        var p: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&p, 4096, capacity * slotBytes) == 0, let p else {
            close(fd)
            throw BFFNError(.limitExceeded, "cannot allocate \(capacity) expert slots of \(slotBytes) bytes", field: "memory-budget")
        }
        pool = p
        blockInSlot = [Int](repeating: -1, count: capacity)
        lastUse = [Int](repeating: -1, count: capacity)
        if e.residentCount < e.count {
            for l in 0..<e.layers { for s in 0..<e.residentCount { pinned.insert(l * e.count + s) } }
        }
    }

    deinit {
        close(fd)
        free(pool)
    }

    /// Forgets the statistics (the contents stay).
    public func resetStatistics() {
        let direct = statistics.directIO
        statistics = Statistics()
        statistics.directIO = direct
    }

    public func matrices(layer: Int, slots: [Int], mapped: ExpertWeights) throws -> (up: [WeightMatrix], down: [WeightMatrix]) {
        clock += 1
        let E = experts.count
        var poolSlots: [Int] = []
        var needed = Set(slots.map { layer * E + $0 })
        for s in slots {
            let key = layer * E + s
            statistics.requests += 1
            if let p = slotOfBlock[key] {
                statistics.hits += 1
                lastUse[p] = clock
                poolSlots.append(p)
                continue
            }
            let p = try victim(excluding: needed)
            if blockInSlot[p] >= 0 { slotOfBlock[blockInSlot[p]] = nil }
            try read(layer: layer, slot: s, into: p)
            blockInSlot[p] = key
            slotOfBlock[key] = p
            lastUse[p] = clock
            poolSlots.append(p)
            needed.insert(key)
        }
        let ups = poolSlots.map { WeightMatrix(base: UnsafeRawPointer(pool + $0 * slotBytes), type: experts.upStorage, rows: experts.expertSize, cols: experts.hiddenSize) }
        let downs = poolSlots.map { WeightMatrix(base: UnsafeRawPointer(pool + $0 * slotBytes + Int(experts.upBytes)), type: experts.downStorage,
                                                 rows: experts.hiddenSize, cols: experts.expertSize) }
        return (ups, downs)
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

    private func read(layer: Int, slot: Int, into p: Int) throws {
        let offset = experts.blockOffset(layer: layer, slot: slot)
        let destination = pool + p * slotBytes
        let t0 = monotonicSeconds()
        var done = 0
        while done < slotBytes {
            let n = pread(fd, destination + done, slotBytes - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw BFFNError(n == 0 ? .truncated : .io, n == 0 ? "the file ends inside an expert block" : "read failed: \(String(cString: strerror(errno)))",
                                file: pack.path, field: "layer \(layer) expert \(experts.order[layer][slot])", offset: offset + UInt64(done))
            }
            done += n
        }
        if !statistics.directIO { _ = posix_fadvise(fd, off_t(offset), off_t(slotBytes), POSIX_FADV_DONTNEED) }
        statistics.stallSeconds += monotonicSeconds() - t0
        statistics.blocksRead += 1
        statistics.bytesRead += slotBytes
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
