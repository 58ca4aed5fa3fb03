import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNTestSupport
import Testing

/// The engine with int8 activations (formats/numerics.md) on real packs: batch invariance and dense = sparse hold,
/// float weights are untouched, and the logits stay close to the float32 path (KL divergence per fixture).
@Suite("int8 activations in the engine")
struct IntegerActivationsTests {
    static func engine(_ pack: String, _ activations: ActivationPrecision, ffn: FFNMode = .sparse, threads: Int = 1) throws -> Engine {
        var o = EngineOptions(threads: threads, ffnMode: ffn)
        o.activations = activations
        return try Engine(weights: ModelWeights(pack: PackFile(path: pack)), options: o)
    }

    /// Mean KL divergence (nats) of softmax(b) from softmax(a) over rows of `vocab` logits.
    static func meanKLD(_ a: [Float], _ b: [Float], vocab: Int) -> Double {
        var total = 0.0
        let rows = a.count / vocab
        for r in 0..<rows {
            func logSoftmax(_ x: ArraySlice<Float>) -> [Double] {
                let m = Double(x.max()!), z = log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
                return x.map { Double($0) - m - z }
            }
            let p = logSoftmax(a[(r * vocab)..<((r + 1) * vocab)]), q = logSoftmax(b[(r * vocab)..<((r + 1) * vocab)])
            total += zip(p, q).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
        }
        return total / Double(max(rows, 1))
    }

    @Test(arguments: [StorageType.q8(group: nil), .q4(group: 32, asymmetric: true), .q4(group: 64, asymmetric: false), .q3k, .q6k])
    func batchInvariantDenseEqualsSparseAndCloseToFloat(_ q: StorageType) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = q
        o.attachments = []
        let (folder, prompt) = try tinyModel(dir, dtype: .bf16)
        let pack = dir.file("q.bfpk")
        _ = try PackWriter.convert(source: folder, to: pack, options: o)
        let dense = try Self.engine(pack, .int8, ffn: .dense).forward(prompt).logits
        for (chunk, threads) in [(1, 1), (7, 2)] {
            let e = try Self.engine(pack, .int8, threads: threads)
            var got: [Float] = []
            var i = 0
            while i < prompt.count { got += try e.forward(Array(prompt[i..<min(prompt.count, i + chunk)])).logits; i += chunk }
            #expect(got.map(\.bitPattern) == dense.map(\.bitPattern), "\(q), chunks of \(chunk), \(threads) threads")
        }
        // Experts from a provider are repacked per call (the others once, at the first int8 pass): the same bits.
        let provided = try Self.engine(pack, .int8)
        provided.expertProvider = MappedExperts()
        #expect(try provided.forward(prompt).logits.map(\.bitPattern) == dense.map(\.bitPattern), "\(q), experts from a provider")
        let float = try Self.engine(pack, .float).forward(prompt).logits
        #expect(float != dense, "int8 activations change the arithmetic")
        let vocab = float.count / prompt.count
        let kld = Self.meanKLD(float, dense, vocab: vocab)
        #expect(kld < 2e-3, "\(q): mean KLD \(kld) of int8 activations from float32")
        print("int8 activations, tiny model \(q): mean KLD from float32 \(kld)")
    }

    /// Repacked weights free their tiles with them (a leaked tile keeps its arena, as large as the model, alive).
    @Test func repackedWeightsAreFreed() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = .q4(group: 32, asymmetric: true)
        o.attachments = []
        let (folder, _) = try tinyModel(dir, dtype: .bf16)
        _ = try PackWriter.convert(source: folder, to: dir.file("q.bfpk"), options: o)
        let weights = try ModelWeights(pack: PackFile(path: dir.file("q.bfpk")))
        weak var arena: TileArena?
        do {
            let tiled = weights.withTiles(for: .int8, experts: true, threads: 2)
            arena = tiled.keepAlive.compactMap { $0 as? TileArena }.first
            #expect(arena != nil)
            #expect(tiled.layers.allSatisfy { $0.experts?.up.allSatisfy { $0.tiles != nil } ?? true })
        }
        #expect(arena == nil, "the tiles' arena outlived the weights")
    }

    /// One engine switched between precisions computes what a fresh engine of each computes (its repacked weights
    /// are made per precision and dropped when the precision changes).
    @Test func switchingPrecisionMatchesFreshEngines() throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = .q8(group: nil)
        o.attachments = []
        let (folder, prompt) = try tinyModel(dir, dtype: .bf16)
        let pack = dir.file("q.bfpk")
        _ = try PackWriter.convert(source: folder, to: pack, options: o)
        let e = try Self.engine(pack, .int8)
        for precision in [ActivationPrecision.int8, .float, .int8, .bf16, .float] {
            e.options.activations = precision
            e.reset()
            let got = try e.forward(prompt).logits
            let fresh = try Self.engine(pack, precision).forward(prompt).logits
            #expect(got.map(\.bitPattern) == fresh.map(\.bitPattern), "\(precision)")
        }
    }

    /// Every reference fixture as a q8 pack: int8 activations stay within the q8 class's KL limit of the float path.
    @Test(arguments: Fixtures.allModels)
    func everyFixtureStaysClose(_ folder: String) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = .q8(group: nil)
        o.attachments = []
        _ = try PackWriter.convert(source: folder, to: dir.file("q.bfpk"), options: o)
        let prompt = try promptIds(folder)
        let float = try Self.engine(dir.file("q.bfpk"), .float).forward(prompt).logits
        let int8 = try Self.engine(dir.file("q.bfpk"), .int8).forward(prompt).logits
        let kld = Self.meanKLD(float, int8, vocab: float.count / prompt.count)
        #expect(kld < 5e-3, "\(folder): mean KLD \(kld)")
        print("int8 activations, \(folder.split(separator: "/").last ?? ""): mean KLD from float32 \(kld)")
    }

    /// Float weights ignore the setting: the source in bf16 gives the same bits either way.
    @Test func floatWeightsAreUntouched() throws {
        let prompt = try promptIds(Fixtures.blockReference)
        var o = EngineOptions()
        o.activations = .int8
        let a = try Engine(checkpointPath: Fixtures.blockReference, options: o).forward(prompt).logits
        let b = try Engine(checkpointPath: Fixtures.blockReference).forward(prompt).logits
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }
}

/// An expert provider that hands out the mapped matrices as they are (without the int8 products' tiles).
final class MappedExperts: ExpertProvider {
    func matrices(layer: Int, slots: [Int], mapped: ExpertWeights) throws -> (up: [WeightMatrix], down: [WeightMatrix]) {
        let up = slots.map { mapped.up[$0] }, down = slots.map { mapped.down[$0] }
        precondition((up + down).allSatisfy { $0.tiles == nil }, "the engine repacks only experts it reads itself")
        return (up, down)
    }
}

/// `--activations bf16` on the bundled trained model (bf16 weights): batch invariance and dense = sparse hold, and
/// the logits stay close to the float32 path.
@Suite("bf16 activations in the engine")
struct BF16ActivationsTests {
    @Test func batchInvariantDenseEqualsSparseAndCloseToFloat() throws {
        let prompt = try promptIds(Fixtures.trainedModel)
        func engine(_ a: ActivationPrecision, _ ffn: FFNMode = .sparse, threads: Int = 1) throws -> Engine {
            var o = EngineOptions(threads: threads, ffnMode: ffn)
            o.activations = a
            return try Engine(checkpointPath: Fixtures.trainedModel, options: o)
        }
        let dense = try engine(.bf16, .dense).forward(prompt).logits
        for (chunk, threads) in [(1, 1), (5, 2)] {
            let e = try engine(.bf16, threads: threads)
            var got: [Float] = []
            var i = 0
            while i < prompt.count { got += try e.forward(Array(prompt[i..<min(prompt.count, i + chunk)])).logits; i += chunk }
            #expect(got.map(\.bitPattern) == dense.map(\.bitPattern), "chunks of \(chunk), \(threads) threads")
        }
        // Experts from a provider are repacked per call (the others once): the same bits.
        let provided = try engine(.bf16)
        provided.expertProvider = MappedExperts()
        #expect(try provided.forward(prompt).logits.map(\.bitPattern) == dense.map(\.bitPattern), "experts from a provider")
        let float = try engine(.float).forward(prompt).logits
        #expect(float != dense)
        let kld = IntegerActivationsTests.meanKLD(float, dense, vocab: 8000)
        #expect(kld < 2e-3, "mean KLD \(kld)")
        print("bf16 activations, trained model: mean KLD from float32 \(kld)")
    }
}
