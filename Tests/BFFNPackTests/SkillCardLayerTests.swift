import BFFNCheckpoint
import BFFNCore
import BFFNModel
import BFFNPack
import BFFNSafetensors
import BFFNTestSupport
import Testing

/// The skill-card layer (fixtures/skill-card-layer: the card's own PyTorch layer, its state_dict and a forward
/// reference made on the GPU machine by scripts/train/make_skill_card_layer.py).
@Suite("skill-card layer")
struct SkillCardLayerTests {
    static let folder = Fixtures.path("skill-card-layer")

    static func reference(_ name: String) throws -> [Float] {
        let f = try SafetensorsFile(path: folder + "/layer-reference.safetensors")
        let e = try #require(f.entry(named: name))
        return f.float32Values(of: e)
    }

    @Test func recognisedAndComputedAsPyTorchDoes() throws {
        let checkpoint = try Checkpoint(path: Self.folder)
        #expect(SkillCardLayer.recognizes(checkpoint))
        #expect(!SkillCardLayer.recognizes(try Checkpoint(path: Fixtures.blockLinearReference)))
        let layer = try SkillCardLayer(checkpoint: checkpoint)
        #expect(layer.hiddenSize == 64 && layer.experts == 8 && layer.expertSize == 32 && layer.sharpness == 2.0)
        let out = layer.forward(try Self.reference("hidden_states"))
        let outputs = try Self.reference("outputs"), gates = try Self.reference("gates"), scores = try Self.reference("router_scores")
        #expect(zip(out.outputs, outputs).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(out.gates, gates).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(out.routerScores, scores).allSatisfy { abs($0 - $1) < 1e-5 })
        // Gates are never zero; the ReLU zeroes about half the scores (the same ones as PyTorch).
        #expect(out.gates.min() == 0.5)
        #expect(zip(out.routerScores, scores).allSatisfy { ($0 == 0) == ($1 == 0) })
        #expect(out.reluSparsity == 0.46875)
        // Another sharpness gives other gates: the comparison can fail.
        var wrong = layer
        wrong.sharpness = 1
        #expect(zip(wrong.forward(try Self.reference("hidden_states")).gates, gates).contains { abs($0 - $1) > 1e-3 })
    }

    @Test func packRoundTripsBitForBitAndDeterministically() throws {
        let dir = TemporaryDirectory()
        let layer = try SkillCardLayer(checkpoint: try Checkpoint(path: Self.folder))
        let a = dir.file("a.bfpk"), b = dir.file("b.bfpk")
        let size = try SkillCardPack.write(layer, to: a)
        try SkillCardPack.write(layer, to: b)
        #expect(try Fixtures.bytes(a) == Fixtures.bytes(b))
        #expect(size % 64 == 0 || size > 8 * 4096)
        #expect(SkillCardPack.isLayerPack(path: a) && !SkillCardPack.isLayerPack(path: Self.folder + "/pytorch_model.bin"))
        let back = try SkillCardPack.read(path: a)
        #expect(back.router == layer.router && back.fc1 == layer.fc1 && back.fc2 == layer.fc2 && back.fc1Bias == layer.fc1Bias)
        #expect(back.fc2Bias == layer.fc2Bias && back.normWeight == layer.normWeight && back.normBias == layer.normBias && back.sharpness == 2)
        let x = try Self.reference("hidden_states")
        #expect(back.forward(x).outputs.map(\.bitPattern) == layer.forward(x).outputs.map(\.bitPattern))
        // A model reader refuses it by name; without overwrite the writer refuses to replace it.
        #expect(throws: BFFNError(.unsupported, "")) { _ = try PackFile(path: a) }
        #expect(throws: BFFNError(.outputExists, "")) { try SkillCardPack.write(layer, to: a) }
        // A damaged expert block is named; a truncated pack is an error, never a crash.
        var bytes = try Fixtures.bytes(a)
        bytes[4096 * 2 + 100] ^= 0xFF
        let damaged = try dir.write("d.bfpk", bytes)
        do {
            _ = try SkillCardPack.read(path: damaged)
            Issue.record("a damaged block was accepted")
        } catch let e as BFFNError {
            #expect(e.code == .checksumMismatch && e.location.field?.hasPrefix("expert") == true, "\(e)")
        }
        for cut in [10, 64, 5000, bytes.count - 10] {
            let truncated = try dir.write("t\(cut).bfpk", Array(try Fixtures.bytes(a).prefix(cut)))
            #expect(throws: BFFNError.self) { _ = try SkillCardPack.read(path: truncated) }
        }
    }
}
