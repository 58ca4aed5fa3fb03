import ArgumentParser
import BFFNCore
import BFFNEngine
import BFFNSynth

/// `bffn synth --preset NAME --out DIR`: a synthetic checkpoint with the published shapes.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic BlockFFN checkpoint with published shapes and a chosen routing sparsity.",
        discussion: """
        Real weights cannot be downloaded everywhere; benchmarks and scale tests use these. The checkpoint has \
        the published tensor names and block_linear layout, config.json, and seeded random weights whose \
        routers give each of 64 vocabulary topics its own expert set. On the synthetic workload (a Markov chain \
        over topics, see synth.json) routing reaches the requested token-level (--tls) and 8-token chunk-level \
        (--cls8) sparsity; after writing, the engine measures what it actually reaches on that workload and \
        stores it in DIR/synth.json, with sample prompts in DIR/workload.txt.

        Presets: tiny (tests), small 0.1B, medium 0.5B, large 0.8B, xlarge 1.2B (MLA), 3b (GQA, 2.8B).

        Examples:
          bffn synth --preset small --out /tmp/small
          bffn synth --preset xlarge --out /tmp/xl --format bin --dtype bf16
        """
    )

    @Option(help: "The shapes: tiny (for tests) or a published size, small to 3b.")
    var preset: SynthPreset

    @Option(help: "The output folder.")
    var out: String

    @Option(help: "Weight file format: safetensors or bin (torch.save zip).")
    var format: SynthOptions.Format = .safetensors

    @Option(help: "Storage dtype: bf16, f16 or f32.")
    var dtype: FloatType = .bf16

    @Option(help: "Token-level sparsity to reach (fraction of experts inactive per token).")
    var tls: Double = 0.8

    @Option(help: "8-token chunk-level sparsity to reach.")
    var cls8: Double = 0.7

    @Option(help: "Random seed (the same seed gives byte-identical files).")
    var seed: UInt64 = 1

    @Option(help: "Workload tokens the engine runs to measure the sparsity reached (0 skips).")
    var measureTokens: Int = 128

    @OptionGroup var overwriting: OverwriteOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func options() throws -> SynthOptions {
        var o = SynthOptions(preset: preset)
        o.format = format
        o.dtype = dtype.dtype
        o.tls = tls
        o.cls8 = cls8
        o.seed = seed
        do { try o.validate() } catch let e as BFFNError { throw ValidationError(e.reason) }
        return o
    }

    func validate() throws {
        _ = try options()
        guard measureTokens >= 0 && measureTokens <= 4096 else { throw ValidationError("--measure-tokens must be 0...4096") }
    }

    func run() throws {
        try printing.run {
            let o = try options()
            let progress = ProgressReporter(label: "synth \(preset.name)", options: printing)
            let weightPath = try SyntheticCheckpoint.write(o, to: out, overwrite: overwriting.force) { done, total in progress.update(done, total) }
            progress.finish()
            let workload = SyntheticCheckpoint.workload(o)
            var measured: SynthReport.Measured? = nil
            if measureTokens > 0 {
                let engine = try Engine(checkpointPath: out, options: EngineOptions(threads: threading.threads, captureRouterScores: true))
                var scores = [[Float]](repeating: [], count: o.preset.layers)
                var i = 0
                while i * 64 < measureTokens {
                    engine.reset()
                    let r = try engine.forward(workload.sequence(length: min(64, measureTokens - i * 64), index: i), logits: .last)
                    for l in 0..<scores.count { scores[l] += r.routerScores[l] }
                    i += 1
                }
                // Sequences are 64 tokens, so chunks never straddle two sequences.
                let stats = SparsityStatistics(routerScores: scores, experts: o.preset.experts)
                measured = .init(tokens: measureTokens, tokenLevelSparsity: stats.tls, chunkLevelSparsity8: stats.overall[8])
            }
            var lines: [String] = []
            for i in 0..<8 { lines.append(workload.sequence(length: 64, index: 1000 + i).map(String.init).joined(separator: ",")) }
            try writeFileAtomically(out + "/workload.txt", Array((lines.joined(separator: "\n") + "\n").utf8))
            let doc = SynthReport(options: o, weightPath: weightPath, measured: measured).json
            try writeFileAtomically(out + "/synth.json", Array((doc.serialized(pretty: true) + "\n").utf8))
            if printing.json {
                printing.emit(doc)
            } else {
                print("wrote \(weightPath)")
                if let m = measured, let c = m.chunkLevelSparsity8 {
                    print("routing on the synthetic workload: TLS \(fixed(m.tokenLevelSparsity, 3)) (asked \(fixed(o.tls, 3))), CLS8 \(fixed(c, 3)) (asked \(fixed(o.cls8, 3)))")
                }
            }
        }
    }
}
