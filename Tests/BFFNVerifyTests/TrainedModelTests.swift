import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNPack
import BFFNSafetensors
import BFFNTestSupport
import BFFNVerify
import Testing

/// The bundled trained model against the training-side PyTorch outputs, and its quantizations against itself.
@Suite("trained model")
struct TrainedModelTests {
    @Test func engineMatchesTheTrainingSidePyTorchReference() throws {
        let folder = Fixtures.trainedModel
        let r = try Verifier.run(modelPath: folder, referencePath: folder + "/reference.safetensors", prompts: nil, options: testOptions())
        #expect(r.passed, "\(r.failures)")
        #expect(r.prompts.count == 3 && r.logits.positions == 96)
        #expect(r.logits.maxAbsError < 1e-4 && r.logits.top1Agreement == 1 && r.greedyMatch)
        #expect(r.routerJaccard == 1)
        // The trained routing is sparse: at least 75 % of experts idle per token on these 96 held-out tokens.
        #expect((r.sparsity?.tls ?? 0) > 0.75)
    }

    @Test(arguments: [(StorageType.q8(group: nil), QuantizationClass.q8), (.q4(group: 32, asymmetric: true), .q4)])
    func quantizedPacksPass(_ quant: StorageType, _ cls: QuantizationClass) throws {
        let dir = TemporaryDirectory()
        var o = ConvertOptions()
        o.quant = quant
        o.threads = 2
        let out = dir.file("m.bfpk")
        _ = try PackWriter.convert(source: Fixtures.trainedModel, to: out, options: o)
        // Held-out text (the reference file's prompts): random ids are no fair test of a trained model (there q4 reaches
        // a mean KLD of 0.10, against 0.045 on held-out text).
        let prompts = try ReferenceFile(path: Fixtures.trainedModel + "/reference.safetensors").prompts.map(\.inputIds)
        let r = try Verifier.run(modelPath: out, referencePath: Fixtures.trainedModel, prompts: prompts, options: testOptions())
        #expect(r.passed, "\(r.failures)")
        #expect(r.quantization == cls && r.speculative?.lossless == true)
    }
}

/// The paper's objectives as bffn measures them equal the training script's own values (objectives.json, computed
/// by the training functions on the reference prompts), from the script's router logits and from the engine's.
@Suite("routing objectives")
struct RoutingObjectivesTests {
    static func trainingValues() throws -> (overall: (Double, Double), layers: [(Double, Double)]) {
        let j = try MappedFile(path: Fixtures.trainedModel + "/objectives.json").withBytes { try JSONValue.parse($0) }
        let layers = (j["layers"]?.arrayElements ?? []).map { ($0["activation_locality_loss"]?.numberValue ?? .nan, $0["chunk_sparsification_loss"]?.numberValue ?? .nan) }
        return ((j["activation_locality_loss"]?.numberValue ?? .nan, j["chunk_sparsification_loss"]?.numberValue ?? .nan), layers)
    }

    static func close(_ a: Double, _ b: Double, _ relative: Double = 1e-5) -> Bool { abs(a - b) <= relative * abs(b) }

    @Test func fromTheTrainingScriptsRouterLogits() throws {
        let want = try Self.trainingValues()
        let file = try SafetensorsFile(path: Fixtures.trainedModel + "/reference.safetensors")
        var layers: [[[Float]]] = []   // per layer, per prompt
        for l in 0..<7 {
            let e = try #require(file.entry(named: "router_logits_l\(l)"))
            #expect(e.shape == [3, 32, 32])
            let all = file.float32Values(of: e)
            layers.append((0..<3).map { Array(all[($0 * 32 * 32)..<(($0 + 1) * 32 * 32)]) })
        }
        let sequences = (0..<3).map { b in layers.map { $0[b] } }
        let o = RoutingObjectives(sequences: sequences, experts: 32, chunkLength: 8, epsilon: 1e-5)
        #expect(o.layers.count == 7)
        for (mine, theirs) in zip(o.layers, want.layers) {
            #expect(Self.close(mine.activationLocalityLoss, theirs.0) && Self.close(mine.chunkSparsificationLoss, theirs.1), "\(mine) vs \(theirs)")
        }
        #expect(Self.close(o.activationLocalityLoss, want.overall.0) && Self.close(o.chunkSparsificationLoss, want.overall.1))
    }

    @Test func fromTheEnginesRouterLogitsThroughVerify() throws {
        let want = try Self.trainingValues()
        let folder = Fixtures.trainedModel
        let r = try Verifier.run(modelPath: folder, referencePath: folder + "/reference.safetensors", prompts: nil, options: testOptions(.none))
        let o = try #require(r.sparsity?.objectives)
        #expect(o.chunkLength == 8)
        #expect(Self.close(o.activationLocalityLoss, want.overall.0) && Self.close(o.chunkSparsificationLoss, want.overall.1),
                "\(o.activationLocalityLoss) vs \(want.overall.0), \(o.chunkSparsificationLoss) vs \(want.overall.1)")
        // The histogram counts every (layer, token) once, and the JSON carries the documented keys.
        #expect(r.sparsity?.activeExpertsHistogram.reduce(0, +) == 7 * 96)
        let json = VerificationReport.sparsityJSON(try #require(r.sparsity))
        #expect(json["objective_chunk_length"] == 8 && json["layers"]?.arrayElements?.first?["chunk_sparsification_loss"] != nil)
        #expect(json["layers"]?.arrayElements?.first?["active_experts_histogram"]?.arrayElements?.count == 33)
    }
}
