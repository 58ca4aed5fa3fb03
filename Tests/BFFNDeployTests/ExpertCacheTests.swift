import BFFNCore
import BFFNDeploy
import BFFNEngine
import BFFNExpertStreaming
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNTestSupport
import Testing

/// Running from a bounded expert cache gives exactly the logits and tokens of the mapped weights.
@Suite("expert cache")
struct ExpertCacheTests {
    static func pack(_ folder: String, _ quant: StorageType?, _ dir: TemporaryDirectory) throws -> String {
        var o = ConvertOptions()
        o.quant = quant
        o.threads = 2
        let out = dir.file("m-\(quant?.description.replacing("/", with: "-") ?? "source").bfpk")
        _ = try PackWriter.convert(source: folder, to: out, options: o)
        return out
    }

    @Test(arguments: Fixtures.allModels.filter { !$0.contains("vanilla") } + [Fixtures.trainedModel])
    func bitIdenticalWithEvictionsEveryToken(_ folder: String) throws {
        let dir = TemporaryDirectory()
        for quant in [nil, StorageType.q4(group: 8, asymmetric: true)] {
            let path = try Self.pack(folder, quant, dir)
            let pack = try PackFile(path: path)
            let weights = try ModelWeights(pack: pack)
            let plain = try Engine(weights: weights, options: EngineOptions(threads: 2))
            let streamed = try Engine(weights: weights, options: EngineOptions(threads: 2))
            // Room for one layer's experts only: every layer evicts what the previous one read; the q4 run also
            // reads ahead.
            let cache = try ExpertCache(pack: pack, capacity: pack.experts!.count, prefetch: quant == nil ? 0 : 3)
            streamed.expertProvider = cache
            let V = weights.architecture.vocabSize
            let prompt = (0..<12).map { ($0 * 37 + 5) % V }
            let a = try plain.forward(prompt), b = try streamed.forward(prompt)
            #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern), "\(folder) \(String(describing: quant))")
            let g1 = try GreedyDecoder.generate(plain, prompt: prompt, maxNewTokens: 8)
            let g2 = try GreedyDecoder.generate(streamed, prompt: prompt, maxNewTokens: 8)
            #expect(g1.generatedIds == g2.generatedIds)
            let s = cache.statistics
            #expect(s.blocksRead > 0 && s.bytesRead == s.blocksRead * Int(pack.experts!.blockBytes) && s.hits < s.requests)
            #expect(quant == nil ? s.prefetched == 0 : s.prefetched > 0)
        }
    }

    /// A budget below the dense weights plus one layer's experts is refused, naming what is needed; a damaged
    /// block is found when it is first read.
    @Test func budgetsAndDamage() throws {
        let dir = TemporaryDirectory()
        let path = try Self.pack(Fixtures.trainedModel, nil, dir)
        let pack = try PackFile(path: path)
        let e = pack.experts!
        let dense = pack.denseBytes
        #expect(try ExpertCache.capacity(of: pack, budgetBytes: dense + UInt64(e.count) * e.blockBytes) == e.count)
        #expect(try ExpertCache.capacity(of: pack, budgetBytes: 1 << 40) == e.layers * e.count)
        #expect(throws: BFFNError(.budgetExceeded, "")) { _ = try ExpertCache.capacity(of: pack, budgetBytes: dense) }
        var bytes = try Fixtures.bytes(path)
        let off = Int(e.blockOffset(layer: 3, slot: 0)) + 10
        bytes[off] ^= 0x40
        let damaged = try dir.write("d.bfpk", bytes)
        let bad = try PackFile(path: damaged)
        // Dense mode computes (so reads) every expert of every layer.
        let engine = try Engine(weights: try ModelWeights(pack: bad), options: EngineOptions(threads: 1, ffnMode: .dense))
        engine.expertProvider = try ExpertCache(pack: bad, capacity: e.count)
        do {
            _ = try engine.forward([1, 2, 3])
            Issue.record("the damaged block was never reported")
        } catch let err as BFFNError {
            #expect(err.code == .checksumMismatch && err.location.field?.hasPrefix("layer 3") == true, "\(err)")
        }
    }
}

/// `ExpertCache.attach`, what `--memory-budget` runs: a budget on a pack gives a cache of its capacity less the
/// read-ahead buffers (never below one layer), a checkpoint refuses a budget, a pack without a deployment split
/// gets no cache unless a budget is given, and one with a split gets its resident experts plus one layer.
@Suite("expert cache attach")
struct ExpertCacheAttachTests {
    @Test func attachFollowsTheBudgetAndThePack() throws {
        let dir = TemporaryDirectory()
        let folder = Fixtures.blockReference
        let path = try ExpertCacheTests.pack(folder, nil, dir)
        let pack = try PackFile(path: path)
        let e = try #require(pack.experts)
        func engine() throws -> Engine { try Engine(weights: try ModelWeights(pack: pack), options: EngineOptions(threads: 1)) }

        // A checkpoint: no cache without a budget, a usage error with one.
        let onCheckpoint = try Engine(checkpointPath: folder, options: EngineOptions(threads: 1))
        #expect(try ExpertCache.attach(to: onCheckpoint, modelPath: folder, budgetBytes: nil) == nil)
        #expect(onCheckpoint.expertProvider == nil)
        #expect(throws: BFFNError(.usage, "")) { try ExpertCache.attach(to: onCheckpoint, modelPath: folder, budgetBytes: 1 << 30) }

        // A pack without a split: nothing unless a budget is given.
        let plain = try engine()
        #expect(ExpertCache.deploymentCapacity(of: pack) == nil)
        #expect(try ExpertCache.attach(to: plain, modelPath: path, budgetBytes: nil) == nil)
        #expect(plain.expertProvider == nil)

        // Room for two layers of experts, two of them read-ahead buffers.
        let budgeted = try engine()
        let budget = pack.denseBytes + UInt64(2 * e.count) * e.blockBytes
        let cache = try #require(try ExpertCache.attach(to: budgeted, modelPath: path, budgetBytes: budget, prefetch: 2, verifyBlocks: false))
        #expect(cache.capacity == 2 * e.count - 2)
        #expect(budgeted.expertProvider as? ExpertCache === cache)
        // The read-ahead never takes the last layer's slots.
        let tight = try #require(try ExpertCache.attach(to: try engine(), modelPath: path, budgetBytes: pack.denseBytes + UInt64(e.count) * e.blockBytes, prefetch: 5))
        #expect(tight.capacity == e.count)
        #expect(throws: BFFNError(.budgetExceeded, "")) { try ExpertCache.attach(to: try engine(), modelPath: path, budgetBytes: pack.denseBytes) }
        // Same tokens as the mapped weights.
        let prompt = [1, 5, 9, 2, 7]
        #expect(try GreedyDecoder.generate(budgeted, prompt: prompt, maxNewTokens: 6).generatedIds
                == GreedyDecoder.generate(plain, prompt: prompt, maxNewTokens: 6).generatedIds)
        // The report beside the cache: its figures, per token over prompt and generated tokens.
        let (json, text) = cache.report(tokens: 11)
        let s = cache.statistics
        #expect(s.requests > 0 && json["requests"]?.intValue == Int64(s.requests) && json["hits"]?.intValue == Int64(s.hits))
        #expect(json["capacity_blocks"]?.intValue == Int64(2 * e.count - 2) && json["block_bytes"]?.intValue == Int64(e.blockBytes))
        #expect(json["cache_bytes"]?.intValue == Int64(2 * e.count - 2) * Int64(e.blockBytes))
        #expect(json["expert_bytes_total"]?.intValue == Int64(e.layers * e.count) * Int64(e.blockBytes))
        #expect(json["bytes_read_per_token"]?.numberValue == Double(s.bytesRead) / 11)
        #expect(json.objectMembers?.count == 14 && text.hasPrefix("expert cache: \(2 * e.count - 2) of \(e.layers * e.count) blocks"), "\(text)")

        // A deployment split (3 resident experts a layer): its resident experts plus one layer, without a budget.
        var options = PackOptions(profile: try DeviceProfile.named("cpu"))
        options.benchmark = false
        options.threads = 2
        options.profile.residentBudgetBytes = e.offset + UInt64(3 * e.layers) * e.blockBytes + 100
        _ = try DevicePacker.pack(source: folder, output: dir.file("split.bfpk"), options: options)
        let split = try PackFile(path: dir.file("split.bfpk"))
        let splitEngine = try Engine(weights: try ModelWeights(pack: split), options: EngineOptions(threads: 1))
        let deployed = try #require(try ExpertCache.attach(to: splitEngine, modelPath: dir.file("split.bfpk"), budgetBytes: nil))
        #expect(deployed.capacity == e.layers * 3 + e.count)
    }
}

/// The memory bound: with a budget below the weights' size, the pack's mapping holds only the dense section
/// (expert pages are never touched through it) and the cache holds its fixed pool, so the weights in memory stay
/// within the budget plus the documented overhead (the header, the manifest and alignment padding pages).
@Suite("memory budget")
struct MemoryBudgetTests {
    @Test(.enabled(if: ProcessMemory.measuresMappings)) func weightsInMemoryStayWithinTheBudget() throws {
        let dir = TemporaryDirectory()
        let path = try ExpertCacheTests.pack(Fixtures.trainedModel, .q8(group: nil), dir)
        let pack = try PackFile(path: path)
        let e = pack.experts!
        let dense = pack.denseBytes
        let expertBytes = UInt64(e.layers * e.count) * e.blockBytes
        let budget = dense + expertBytes / 2   // below the weights' size
        let capacity = try ExpertCache.capacity(of: pack, budgetBytes: budget)
        #expect(UInt64(capacity) * e.blockBytes <= budget - dense && capacity < e.layers * e.count)
        let engine = try Engine(weights: try ModelWeights(pack: pack), options: EngineOptions(threads: 2))
        let cache = try ExpertCache(pack: pack, capacity: capacity)
        engine.expertProvider = cache
        _ = try GreedyDecoder.generate(engine, prompt: [1, 450, 1200, 77, 9, 300], maxNewTokens: 48)
        let mapped = try #require(ProcessMemory.residentBytes(ofMappingsOf: path))
        let overhead = UInt64(4 * pack.header.alignment) + pack.header.manifestLength + 4096   // header page, manifest, padding pages
        #expect(mapped <= dense + overhead, "the mapping holds \(mapped) bytes; dense \(dense)")
        #expect(mapped + UInt64(capacity) * e.blockBytes <= budget + overhead)
        #expect(cache.statistics.blocksRead > capacity)   // it did evict and read again
        // Without the cache the same run maps the experts it uses.
        let plain = try Engine(weights: try ModelWeights(pack: pack), options: EngineOptions(threads: 2))
        _ = try GreedyDecoder.generate(plain, prompt: [1, 450, 1200, 77, 9, 300], maxNewTokens: 48)
        #expect((ProcessMemory.residentBytes(ofMappingsOf: path) ?? 0) > dense + overhead)
    }
}

/// The bundled model packed for the `cpu` profile: experts stored most used first, by calibration counts.
func hotFirstPack(_ dir: TemporaryDirectory) throws -> String {
    var options = PackOptions(profile: try DeviceProfile.named("cpu"))
    options.benchmark = false
    options.threads = 2
    let path = dir.file("hot.bfpk")
    _ = try DevicePacker.pack(source: Fixtures.trainedModel, output: path, options: options)
    return path
}

@Suite("expert read-ahead")
struct ExpertReadAheadTests {
    /// On a hot-first pack (`bffn pack` orders experts by calibration counts) reading the next layer's first
    /// slots ahead saves reads: the same tokens, fewer blocks read on demand.
    @Test func readAheadOnAHotFirstPack() throws {
        let dir = TemporaryDirectory()
        let path = try hotFirstPack(dir)
        let pack = try PackFile(path: path)
        let capacity = pack.experts!.count * 3
        var ids: [[Int]] = []
        var used = 0
        for k in [0, 4] {
            let engine = try Engine(weights: try ModelWeights(pack: pack), options: EngineOptions(threads: 2))
            let cache = try ExpertCache(pack: pack, capacity: capacity, prefetch: k)
            engine.expertProvider = cache
            ids.append(try GreedyDecoder.generate(engine, prompt: [1, 450, 1200, 77, 9, 300], maxNewTokens: 32).generatedIds)
            if k > 0 { used = cache.statistics.prefetchUsed }
        }
        #expect(ids[0] == ids[1])
        #expect(used > 0)
    }
}

/// The read model the deployment report uses is the runtime's: replaying a trace through the simulator gives
/// exactly the blocks `ExpertCache` reads when the same tokens are decoded one at a time.
@Suite("read model")
struct ReadModelTests {
    @Test func simulatorPredictsTheCachesReads() throws {
        let dir = TemporaryDirectory()
        let path = try hotFirstPack(dir)
        let pack = try PackFile(path: path)
        let e = pack.experts!
        let weights = try ModelWeights(pack: pack)
        let sequences = [[1, 450, 1200, 77, 9, 300, 42, 8, 12, 4000, 17], [1, 5, 6, 7, 800, 801, 802]]
        let trace = try RoutingTrace.record(weights: weights, sequences: sequences, threads: 2, model: path)
        for capacity in [e.count, e.count + 40, 2 * e.count] {
            let simulated = ExpertCacheSimulator.simulate(trace, capacity: capacity, policy: .lru)
            let engine = try Engine(weights: weights, options: EngineOptions(threads: 1))
            let cache = try ExpertCache(pack: pack, capacity: capacity)
            engine.expertProvider = cache
            for s in sequences {
                engine.reset()
                for t in s { _ = try engine.forward([t]) }
            }
            #expect(cache.statistics.blocksRead == simulated.accesses - simulated.hits, "capacity \(capacity)")
            #expect(cache.statistics.requests == simulated.accesses)
        }
    }

    /// A profile's flash keys are read, written back, and drive the report's estimate.
    @Test func profilesCarryFlashSpeed() throws {
        let json = try JSONValue.parse(#"{"name": "d", "bandwidth_gb_per_s": 10, "flash_gb_per_s": 2.5, "flash_latency_us": 80}"#)
        let p = try DeviceProfile(json: json, path: "d.json")
        #expect(p.flashBytesPerSecond == 2.5e9 && p.flashLatencyMicroseconds == 80)
        let again = try DeviceProfile(json: p.json, path: "again")
        #expect(again == p)
        #expect(try DeviceProfile.named("orin-nx-16g").flashBytesPerSecond == 2e9 && DeviceProfile.named("cpu").flashBytesPerSecond == nil)
        #expect(throws: BFFNError(.invalidJSON, "")) { _ = try DeviceProfile(json: try JSONValue.parse(#"{"name": "d", "bandwidth_gb_per_s": 10, "flash_gb_per_s": -1}"#), path: "x") }
    }
}
