import ArgumentParser
import BFFNCore
import BFFNDeploy
import BFFNTokenizer
import BFFNEngine
import BFFNExpertStreaming
import BFFNKernels
import BFFNModel
import BFFNPack
import BFFNSpeculative

/// `bffn bench MODEL`: prefill and decode speed, bytes read per token, and sparse vs dense FFN time.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode speed, weight bandwidth, and sparse vs dense FFN time.",
        discussion: """
        Prefills a prompt (the first sequence of --workload, by default MODEL/workload.txt when MODEL is a folder, e.g. \
        from `bffn synth`; else seeded random ids) three times with every token's logits and three times with the \
        last token's only (as generate does) and reports the medians, decodes --tokens tokens greedily with \
        chunk-sparse experts, then repeats the decode with dense experts to time the dense FFN. Also measures \
        this machine's streaming-read bandwidth in the same run and reports the ratio of the decode's effective \
        weight bandwidth to it, and peak RSS beside its budget (weight bytes + 10 % + the KV cache). Strided expert down weights \
        (block_linear, bmt) are copied into one block per expert at load unless --in-place-experts is given.

        Examples:
          bffn synth --preset small --out /tmp/small && bffn bench /tmp/small --threads 1,2
          bffn bench /tmp/small --tokens 64 --json
          bffn bench /tmp/small.bfpk --workload /tmp/small/workload.txt   # a pack on its source's prompt
        """
    )

    @Argument(help: "A .bfpk pack or a checkpoint (folder, .safetensors, .bin or shard index).", completion: .file())
    var model: String

    @Option(name: [.customShort("t"), .long], help: "Thread counts to measure, comma-separated; each run uses exactly that many threads (default: the CPUs this process may run on: its affinity mask, as taskset sets it).")
    var threads: String?

    @Option(help: "Tokens to decode per measurement.")
    var tokens: Int = 32

    @Option(help: ArgumentHelp("A token sequence file (a comma-separated list of ids per line; blank and # lines skipped) or a text file (its first paragraph, encoded with the model's tokenizer) whose first sequence is the prompt.", valueName: "file"))
    var workload: String?

    @Option(help: ArgumentHelp("Measure only the tokenizer: encoding speed of this UTF-8 file on one thread (MODEL may be a folder of tokenizer files).", valueName: "file"),
            completion: .file())
    var tokenize: String?

    @Option(help: "Prompt length for prefill when there is no workload.")
    var promptTokens: Int = 64

    @OptionGroup var loading: WeightLoadingOptions

    @OptionGroup var memory: MemoryBudgetOptions
    @OptionGroup var drafting: DraftOptions
    @OptionGroup var numerics: NumericsOptions
    @OptionGroup var tokenizing: TokenizerOptions
    @OptionGroup var printing: OutputOptions

    func threadCounts() throws -> [Int] {
        guard let threads else { return [WorkerPool.usableCPUs] }
        let parts = threads.split(separator: ",").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 256 }) else {
            throw ValidationError("--threads takes a list like 1,2 of counts from 1 to 256")
        }
        return parts.map { $0! }
    }

    func validate() throws {
        _ = try threadCounts()
        guard tokens >= 1 && tokens <= 100_000 else { throw ValidationError("--tokens must be 1...100000") }
        guard promptTokens >= 1 && promptTokens <= 100_000 else { throw ValidationError("--prompt-tokens must be 1...100000") }
    }

    func run() throws {
        try printing.run {
            let model = try HubCache.resolve(self.model)
            if let tokenize {
                let bundle = try tokenizing.load(model: model)
                let r = try TokenizerBenchmark.run(bundle.tokenizer, text: String(decoding: MappedFile(path: tokenize).contents, as: UTF8.self))
                if printing.json {
                    printing.emit(r.json(tokenizer: bundle.tokenizer.kind))
                } else {
                    print("\(bundle.tokenizer.kind): \(r.bytes) bytes -> \(r.tokens) tokens, median \(fixed(r.megabytesPerSecond, 1)) MB/s on one thread (5 runs)")
                }
                return
            }
            let weights = try loading.open(model)
            var prompt: [Int] = []
            let workloadPath = workload ?? folderWorkload(of: model)
            if let workloadPath {
                prompt = try SequenceInput.read(path: workloadPath, vocabularySize: weights.architecture.vocabSize, maxLength: 1 << 20) {
                    try tokenizing.load(model: model)
                }[0]
            }
            if prompt.isEmpty {
                var x: UInt64 = 42
                let V = weights.architecture.vocabSize
                prompt = (0..<promptTokens).map { _ in x = x &* 6364136223846793005 &+ 1442695040888963407; return Int((x >> 33) % UInt64(V)) }
            }
            // A budget given, or a deployment pack's split (its resident experts plus one layer's slots).
            var budgetGiven = try memory.budgetBytes()
            if budgetGiven == nil, PackFile.isPack(path: model), let p = try? PackFile(path: model), let slots = ExpertCache.deploymentCapacity(of: p) {
                budgetGiven = p.denseBytes + UInt64(slots) * p.experts!.blockBytes
            }
            if let budget = budgetGiven {
                guard PackFile.isPack(path: model) else { throw BFFNError(.usage, "--memory-budget measures a .bfpk pack; convert the checkpoint first", file: model) }
                let runs = try BudgetBenchmark.run(packPath: model, budgetBytes: budget, prompt: prompt, decodeTokens: tokens,
                                                   threads: try threadCounts()[0], verifyBlocks: !memory.noVerifyBlocks)
                if printing.json {
                    printing.emit(BudgetBenchmark.json(model: model, budgetBytes: budget, decodeTokens: tokens, runs: runs))
                } else {
                    for r in runs {
                        var line = "\(r.mode.padding(toLength: 14)) decode \(fixed(r.decodeTokensPerSecond, 1)) tok/s"
                        if let h = r.hitRate, let b = r.bytesReadPerToken, let s = r.stallSeconds, let c = r.capacityBlocks {
                            line += ", \(c) blocks, hit rate \(fixed(h * 100, 1)) %, read \(TextNumber.bytesWithSize(UInt64(b))) per token, stalled \(fixed(s, 3)) s"
                        }
                        print(line)
                    }
                }
                return
            }
            var runs: [BenchmarkResult] = []
            let progress = ProgressReporter(label: "bench", options: printing)
            for t in try threadCounts() {
                progress.note("measuring with \(t) thread\(t == 1 ? "" : "s")")
                runs.append(try Benchmark.run(weights: weights, prompt: prompt, decodeTokens: tokens, threads: t, activations: numerics.activations,
                                               kvCache: numerics.kvCache))
            }
            // Plain against speculative decoding in the same run, when a drafter is named.
            var speculative: [SpeculativeBenchmark.Run]? = nil
            let choice = drafting.drafter(default: .none)
            if let drafter = try choice.makeDrafter(target: weights, targetPath: model, threads: runs[0].threads,
                                                          activations: numerics.activations) {
                progress.note("plain against speculative decoding (\(drafter.name))")
                var engineOptions = EngineOptions(threads: runs[0].threads)
                numerics.apply(to: &engineOptions)
                let engine = try Engine(weights: weights, options: engineOptions)
                speculative = try SpeculativeBenchmark.run(engine, drafter: drafter, shape: drafting.shape(for: choice), prompt: prompt, tokens: tokens)
            }
            progress.finish()
            if printing.json {
                var members: [(String, JSONValue)] = [("model", .string(model))]
                if case .object(let first) = runs[0].json { members += first.map { ($0.key, $0.value) } }
                members.append(("activations", .string(activationsLabel(weights))))
                members.append(("kv_cache", .string(numerics.kvCache.rawValue)))
                members.append(("runs", .array(runs.map(\.json))))
                members.append(("speculative", speculative.map { .array($0.map(\.json)) } ?? .null))
                printing.emit(.object(members))
            } else {
                print("activations: \(activationsLabel(weights)); KV cache: \(numerics.kvCache == .bf16 ? "bf16" : "float32")")
                for r in runs {
                    print("threads \(r.threads): prefill \(fixed(r.prefillTokensPerSecond, 1)) tok/s (\(r.prefillTokens) tokens, every token's logits, \(fixed(r.prefillGFLOPsPerThread, 1)) GFLOP/s per thread\(peakNote(r))), decode \(fixed(r.decodeTokensPerSecond, 2)) tok/s")
                    print("  prompt for generation (last token's logits only) \(fixed(r.promptTokensPerSecond, 1)) tok/s, \(fixed(r.promptGFLOPsPerThread, 1)) GFLOP/s per thread")
                    print("  weights read per token \(fixed(r.weightBytesPerToken / 1e6, 1)) MB -> \(fixed(r.effectiveGBps, 2)) GB/s; streaming read \(fixed(r.readBandwidthGBps, 2)) GB/s; ratio \(fixed(r.bandwidthRatio * 100, 1)) %")
                    print("  KV cache read per token \(fixed(r.kvBytesReadPerToken / 1e6, 1)) MB (beside the weights; not in the ratio)")
                    print("  FFN per token: sparse \(fixed(r.sparseFFNMillisecondsPerToken, 2)) ms, dense \(fixed(r.denseFFNMillisecondsPerToken, 2)) ms; active experts \(fixed(r.activeExpertFraction * 100, 1)) %; \(fixed(r.handOffsPerToken, 0)) worker-pool hand-offs per token")
                    print("  one call after the prompt: 1 token \(fixed(r.tokenMilliseconds, 2)) ms" + r.chunkMilliseconds.sorted { $0.key < $1.key }.map { ", \($0.key) tokens \(fixed($0.value, 2)) ms (x\(fixed($0.value / max(r.tokenMilliseconds, 1e-9), 2)))" }.joined())
                    let mb = { (bytes: Int) in fixed(Double(bytes) / 1e6, 1) }
                    print("  peak RSS \(mb(r.peakRSSBytes)) MB; budget \(mb(r.memoryLimitBytes)) MB = weights \(mb(r.weightBytes)) MB + 10 % + KV cache \(mb(r.kvCacheBytes)) MB" + (r.peakRSSBytes <= r.memoryLimitBytes ? "" : " (over)"))
                }
                if let speculative {
                    print("speculative decoding (\(drafting.speculative?.description ?? "")), \(tokens) tokens after the prompt, the fastest of 3 alternated runs each:")
                    let plain = speculative[0].tokensPerSecond
                    for r in speculative {
                        var line = "\(r.mode.padding(toLength: 9)) \(fixed(r.tokensPerSecond, 1)) tok/s"
                        if r.mode != "plain" {
                            line += " (x\(fixed(r.tokensPerSecond / max(plain, 1e-9), 2))), \(fixed(r.meanAcceptLength, 2)) tokens per step over \(r.steps) steps"
                            if r.mode == "adaptive" { line += ", \(r.plainSteps) without a draft" }
                            line += r.identical ? ", output identical" : ", OUTPUT DIFFERS"
                        }
                        print(line)
                        if let d = r.decisions { printDecisions(d) }
                    }
                }
            }
        }
    }
}

extension BenchCommand {
    /// ", N % of the KIND peak P": prefill against the measured peak of its instruction (empty without one).
    func peakNote(_ r: BenchmarkResult) -> String {
        guard r.peakGOPSPerThread > 0 else { return "" }
        return ", \(fixed(r.prefillPeakFraction * 100, 0)) % of the \(r.peakKind.rawValue) peak \(fixed(r.peakGOPSPerThread, 0))"
    }

    /// The adaptive controller's measurements and choices, two lines under its run.
    func printDecisions(_ d: AdaptiveDrafting.Report) {
        func ms(_ s: Double?) -> String { s.map { fixed($0 * 1000, 2) + " ms" } ?? "not measured" }
        let calls: [String] = d.callSeconds.keys.sorted().filter { $0 > 0 }.map { "\($0) nodes \(ms(d.callSeconds[$0]))" }
        print("  measured: plain step \(ms(d.callSeconds[0])), calls \(calls.joined(separator: ", ")); drafting \(ms(d.draftSecondsPerLevel)) a level, catch-up \(ms(d.catchUpSecondsPerPosition)) a position")
        let expected: [String] = d.expected.map { "\($0.nodes) nodes x\(fixed($0.speedup, 2))" }
        let chose: [String] = d.budgets.keys.sorted().map { "\($0) nodes \(d.budgets[$0]!)x" }
        var line = "  expected at those costs: \(expected.isEmpty ? "not measured" : expected.joined(separator: ", ")); chose \(chose.joined(separator: ", "))"
        if let stop = d.stopped { line += "; stopped: " + stop.rawValue.replacingOccurrences(of: "_", with: " ") }
        print(line)
    }

    /// How activations meet this model's weights (`ActivationPrecision.label(for:)`): "float32", "int8, integer
    /// products (INSTRUCTION SET)", "bf16, bf16 products (INSTRUCTION SET)", "float32 (no q8/q4 weights)", or with
    /// --activations auto (the default) "auto -> " and what it chose.
    func activationsLabel(_ weights: ModelWeights) -> String {
        numerics.activations.label(for: weights.allMatrices.map(\.matrix.type))
    }
}
