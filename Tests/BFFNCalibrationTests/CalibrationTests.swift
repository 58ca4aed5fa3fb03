import BFFNCalibration
import BFFNCore
import BFFNEngine
import BFFNModel
import BFFNPack
import BFFNSafetensors
import BFFNTestSupport
import Testing

/// Records every row each site sees (for checking what reached which matrix).
final class RowRecorder: ActivationObserver {
    var rows: [ActivationSite: [[Float]]] = [:]
    func observe(_ site: ActivationSite, _ values: UnsafePointer<Float>, tokens: Int, width: Int) {
        for t in 0..<tokens { rows[site, default: []].append(Array(UnsafeBufferPointer(start: values + t * width, count: width))) }
    }
}

@Suite("calibration statistics")
struct CalibrationTests {
    static let prompt = [1, 5, 17, 42, 7, 90, 3, 12, 64, 8, 33, 2, 71, 14, 9, 60]

    /// An expert's up projection sees exactly the FFN input rows of the tokens its router score is non-zero for
    /// (in token order), and its down projection one row per such token; counts add up to the active pairs.
    @Test(arguments: [Fixtures.blockLinearReference, Fixtures.blockReference])
    func expertsSeeExactlyTheTokensThatActivateThem(_ model: String) throws {
        let engine = try Engine(checkpointPath: model)
        let recorder = RowRecorder()
        engine.activationObserver = recorder
        let out = try engine.forwardCapturing(Self.prompt)
        let E = engine.weights.architecture.numExperts, H = engine.weights.architecture.hiddenSize
        var pairs = 0
        for (l, scores) in out.routerScores.enumerated() {
            let input = try #require(recorder.rows[.ffnInput(layer: l)])
            #expect(input.count == Self.prompt.count && input[0].count == H)
            for e in 0..<E {
                let active = (0..<Self.prompt.count).filter { scores[$0 * E + e] != 0 }
                pairs += active.count
                let up = recorder.rows[.expertUp(layer: l, expert: e)] ?? []
                #expect(up.map { $0.map(\.bitPattern) } == active.map { input[$0].map(\.bitPattern) }, "layer \(l) expert \(e)")
                #expect((recorder.rows[.expertDown(layer: l, expert: e)] ?? []).count == active.count)
            }
        }
        #expect(pairs > 0)
        let stats = try Calibrator.run(engine, windows: [Self.prompt], sources: ["prompt"])
        #expect(stats.expertLayers.reduce(0) { $0 + $1.tokens.reduce(0, +) } == pairs)
    }

    /// The blending of formats/calibration.md on a hand-made case: three experts seen on 2, 0 and 1 tokens, prior 2.
    @Test func blendingFollowsTheDocumentedPrior() throws {
        let engine = try Engine(checkpointPath: Fixtures.blockLinearReference)
        let a = engine.weights.architecture
        let H = a.hiddenSize, de = try #require(engine.weights.layers[0].experts?.up.first?.rows)
        let c = ActivationCollector()
        func row(_ v: Float, _ n: Int) -> [Float] { [Float](repeating: v, count: n) }
        (row(1, H) + row(3, H)).withUnsafeBufferPointer { c.observe(.expertUp(layer: 0, expert: 0), $0.baseAddress!, tokens: 2, width: H) }
        row(2, H).withUnsafeBufferPointer { c.observe(.expertUp(layer: 0, expert: 2), $0.baseAddress!, tokens: 1, width: H) }
        (row(1, de) + row(1, de)).withUnsafeBufferPointer { c.observe(.expertDown(layer: 0, expert: 0), $0.baseAddress!, tokens: 2, width: de) }
        row(4, de).withUnsafeBufferPointer { c.observe(.expertDown(layer: 0, expert: 2), $0.baseAddress!, tokens: 1, width: de) }
        let s = c.statistics(for: engine.weights, sequences: 1, tokens: 2, priorTokens: 2, sources: [])
        let l0 = try #require(s.experts(layer: 0))
        #expect(l0.tokens.prefix(3) == [2, 0, 1])
        // Up prior per column: (1 + 9 + 4) / 3 pairs = 14/3. Expert 0: (10 + 2·14/3) / 4; expert 1: the prior; expert 2: (4 + 28/3) / 3.
        #expect(abs(l0.up[0][0] - Float((10 + 28.0 / 3) / 4)) < 1e-6)
        #expect(abs(l0.up[1][5] - Float(14.0 / 3)) < 1e-6)
        #expect(abs(l0.up[2][H - 1] - Float((4 + 28.0 / 3) / 3)) < 1e-6)
        // Down prior: the layer's mean over all pairs and columns: (2·de·1 + de·16) / (3·de) = 6.
        #expect(l0.down[0][0] == Float((2 + 2 * 6.0) / 4) && l0.down[1][0] == 6 && l0.down[2][0] == Float((16 + 12.0) / 3))
        #expect(s.underCalibrated.filter { $0.layer == 0 }.map(\.expert).prefix(2) == [1, 2])
    }

    /// The file round-trips every value, the same run gives the same bytes, and its figures describe the model.
    @Test func fileRoundTripsAndIsDeterministic() throws {
        let dir = TemporaryDirectory()
        func run() throws -> ActivationStatistics {
            try Calibrator.run(try Engine(checkpointPath: Fixtures.blockLinearReference), windows: [Self.prompt, Array(Self.prompt.reversed())],
                               sources: ["a.txt"])
        }
        let s = try run()
        try s.write(to: dir.file("a.safetensors"), overwrite: false)
        try run().write(to: dir.file("b.safetensors"), overwrite: false)
        #expect(try MappedFile(path: dir.file("a.safetensors")).contents == MappedFile(path: dir.file("b.safetensors")).contents)
        var back = try ActivationStatistics(path: dir.file("a.safetensors"))
        #expect(back.origin == dir.file("a.safetensors"))
        back.origin = nil
        #expect(back == s)
        #expect(s.tokens == 32 && s.sequences == 2 && s.sources == ["a.txt"])
        let weights = try ModelWeights.open(path: Fixtures.blockLinearReference)
        try s.check(against: weights)
        let qA = try #require(s.meanSquares(of: "model.layers.0.self_attn.q_a_proj.weight"))
        #expect(qA.count == weights.architecture.hiddenSize && qA.allSatisfy { $0 > 0 })
    }

    /// Bad statistics files: each error names the file, the field and the byte offset, never a crash.
    @Test func malformedFilesGiveLocatedErrors() throws {
        let dir = TemporaryDirectory()
        let s = try Calibrator.run(try Engine(checkpointPath: Fixtures.blockLinearReference), windows: [Self.prompt], sources: ["a"])
        let good = try s.image()
        func error(_ bytes: [UInt8]) throws -> BFFNError {
            let path = dir.file("bad-\(bytes.count)-\(bytes.hashValue).safetensors")
            try writeFileAtomically(path, bytes)
            do {
                _ = try ActivationStatistics(path: path)
            } catch let e as BFFNError {
                #expect(e.location.file == path)
                return e
            }
            Issue.record("accepted a bad file")
            return BFFNError(.internalError, "")
        }
        // Another safetensors file (no calibration metadata).
        let plain = try SafetensorsWriter.image([.init(name: "x", dtype: .f32, shape: [1], bytes: [0, 0, 128, 63])])
        let e1 = try error(plain)
        #expect(e1.code == .malformed && e1.location.field == "__metadata__.format" && e1.location.offset == 8)
        // A negative mean square: the offset is that value's.
        try writeFileAtomically(dir.file("good.safetensors"), good)
        let parsed = try SafetensorsFile(path: dir.file("good.safetensors"))
        let at = parsed.dataStart + (try #require(parsed.entry(named: s.dense[0].name))).dataOffsets.lowerBound
        var negative = good
        negative[Int(at) + 4 * 3 + 3] |= 0x80
        let e2 = try error(negative)
        #expect(e2.code == .malformed && e2.location.field == s.dense[0].name && e2.location.offset == at + 12)
        // Statistics of another model.
        var other = s
        other.dense[0].meanSquares.removeLast()
        other.origin = "other.safetensors"
        #expect(throws: BFFNError(.shapeMismatch, "")) { try other.check(against: try ModelWeights.open(path: Fixtures.blockLinearReference)) }
    }
}
