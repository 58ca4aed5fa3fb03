import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNPack
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
