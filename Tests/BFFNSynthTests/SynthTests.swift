import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNSynth
import BFFNTestSupport
import Testing

@Suite("synthetic checkpoints")
struct SynthTests {
    @Test func deterministicAndIdenticalAcrossFormats() throws {
        let dir = TemporaryDirectory()
        var o = SynthOptions(preset: SynthPreset.all["tiny"]!)
        let a = try SyntheticCheckpoint.write(o, to: dir.file("a"), overwrite: false)
        let b = try SyntheticCheckpoint.write(o, to: dir.file("b"), overwrite: false)
        #expect(try Fixtures.bytes(a) == Fixtures.bytes(b))
        #expect(throws: BFFNError(.outputExists, "")) { _ = try SyntheticCheckpoint.write(o, to: dir.file("a"), overwrite: false) }
        o.format = .bin
        let c = try SyntheticCheckpoint.write(o, to: dir.file("c"), overwrite: false)
        let d = try SyntheticCheckpoint.write(o, to: dir.file("d"), overwrite: false)
        #expect(try Fixtures.bytes(c) == Fixtures.bytes(d))
        let st = try Checkpoint(path: dir.file("a")), bin = try Checkpoint(path: dir.file("c"))
        #expect(st.tensors.map(\.name) == bin.tensors.map(\.name))
        for t in st.tensors {
            let u = try #require(bin.tensor(named: t.name))
            #expect(t.shape == u.shape && t.dtype == u.dtype)
            #expect(try st.bytes(of: t).contents == bin.bytes(of: u).contents, "\(t.name)")
        }
        let arch = try bin.recognize().architecture
        #expect(arch.ffnLayout == .blockLinear && arch.attention == .mla && arch.numExperts == 16 && arch.expertSize == 32)
        #expect(arch.routerNorm == .rms && !arch.tiedEmbeddings)
    }

    @Test(arguments: [(0.8, 0.7), (0.6, 0.4), (0.9, 0.85)])
    func routingReachesTheRequestedSparsity(_ tls: Double, _ cls8: Double) throws {
        let dir = TemporaryDirectory()
        var o = SynthOptions(preset: SynthPreset.all["tiny"]!)
        o.tls = tls
        o.cls8 = cls8
        _ = try SyntheticCheckpoint.write(o, to: dir.path + "/m", overwrite: true)
        let engine = try Engine(checkpointPath: dir.path + "/m", options: EngineOptions(captureRouterScores: true))
        let w = SyntheticCheckpoint.workload(o)
        var scores = [[Float]](repeating: [], count: o.preset.layers)
        for i in 0..<8 {
            engine.reset()
            let r = try engine.forward(w.sequence(length: 64, index: i))
            for l in 0..<scores.count { scores[l] += r.routerScores[l] }
        }
        let s = SparsityStatistics(routerScores: scores, experts: o.preset.experts)
        #expect(abs(s.tls - tls) < 0.04, "TLS \(s.tls)")
        #expect(abs((s.overall[8] ?? 0) - cls8) < 0.06, "CLS8 \(s.overall[8] ?? 0)")
    }

    @Test func unreachableSparsityIsAUsageError() {
        var o = SynthOptions(preset: SynthPreset.all["tiny"]!)
        o.tls = 0.5
        o.cls8 = 0.6
        #expect(throws: BFFNError(.usage, "")) { try o.validate() }
        o.cls8 = 0.001
        #expect(throws: BFFNError(.usage, "")) { try o.validate() }
    }

    @Test func sparsityStatisticsByHand() {
        // 4 tokens x 4 experts: active sets {0}, {0,1}, {2}, {2}.
        let scores: [Float] = [1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0]
        let s = SparsityStatistics(routerScores: [scores], experts: 4)
        #expect(s.overall[1] == 1 - 5.0 / 16)       // 5 active pairs of 16
        #expect(s.overall[2] == 1 - (2.0 + 1.0) / 8) // unions {0,1} and {2}
        #expect(s.overall[4] == 1 - 3.0 / 4)
        #expect(s.overall[8] == nil)
    }
}

@Suite("engine on a synthetic model with 32-wide experts")
struct WideExpertEngineTests {
    /// Expert widths that are multiples of 32 take the concatenated down-projection path; check its bits.
    @Test func sparseEqualsDenseAndBatchingDoesNotMatter() throws {
        let dir = TemporaryDirectory()
        let o = SynthOptions(preset: SynthPreset.all["tiny"]!)
        _ = try SyntheticCheckpoint.write(o, to: dir.path + "/m", overwrite: true)
        let prompt = SyntheticCheckpoint.workload(o).sequence(length: 40, index: 3)
        let dense = try Engine(checkpointPath: dir.path + "/m", options: EngineOptions(ffnMode: .dense))
        let full = try dense.forward(prompt).logits
        for (chunk, threads) in [(1, 1), (8, 2), (13, 1), (40, 2)] {
            let e = try Engine(checkpointPath: dir.path + "/m", options: EngineOptions(threads: threads, ffnMode: .sparse))
            var got: [Float] = []
            var i = 0
            var skipped = false
            while i < prompt.count {
                let out = try e.forward(Array(prompt[i..<min(prompt.count, i + chunk)]))
                got += out.logits
                if out.expertsComputed.contains(where: { $0 < o.preset.experts }) { skipped = true }
                i += chunk
            }
            #expect(got.map(\.bitPattern) == full.map(\.bitPattern), "chunk \(chunk), threads \(threads)")
            if chunk <= 8 { #expect(skipped) }
        }
    }
}
