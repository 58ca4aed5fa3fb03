import BFFNCore
import BFFNSynth
import Testing

/// synth.json (and `bffn synth --json`) comes from `SynthReport.json`: the options, the workload they imply and
/// the measurement.
@Suite("synth report")
struct SynthReportTests {
    @Test func recordsOptionsWorkloadAndMeasurement() throws {
        var o = SynthOptions(preset: SynthPreset.all["tiny"]!)
        o.tls = 0.75
        o.seed = 7
        let plain = SynthReport(options: o, weightPath: "/tmp/tiny/model.safetensors", measured: nil).json
        #expect(plain.objectMembers?.map(\.key) == ["preset", "weights", "format", "dtype", "seed", "requested", "workload", "measured"])
        #expect(plain["preset"] == .string("tiny") && plain["seed"] == .integer(7) && plain["measured"] == .null)
        #expect(plain["requested"]?["token_level_sparsity"] == .double(0.75) && plain["requested"]?["chunk_level_sparsity"]?["8"] == .double(o.cls8))
        let w = SyntheticCheckpoint.workload(o)
        #expect(plain["workload"]?["topics"] == .integer(w.topics) && plain["workload"]?["switch_probability"] == .double(w.switchProbability))
        let m = SynthReport(options: o, weightPath: "w", measured: .init(tokens: 128, tokenLevelSparsity: 0.7, chunkLevelSparsity8: nil)).json["measured"]
        #expect(m?["tokens"] == .integer(128) && m?["token_level_sparsity"] == .double(0.7) && m?["chunk_level_sparsity"]?["8"] == .null)
    }
}
