import ArgumentParser
import BFFNCore
import BFFNEngine
import BFFNPack
import BFFNSpeculative
import BFFNVerify

/// `bffn generate MODEL --prompt-ids ...`: greedy decoding with the built-in engine.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Greedy decoding with the built-in float32 engine.",
        discussion: """
        Runs the prompt, then appends the argmax token at each step (ties to the lowest id), reading only the \
        experts the router activates. Prints the generated ids, comma-separated. A checkpoint whose experts' down \
        weights are strided (block_linear, bmt) has them copied into one block per expert at load, as a pack \
        stores them (--in-place-experts reads them where they are).

        With --speculative, a drafter proposes a chain (--draft-tokens K) or a tree (--tree WIDTHxDEPTH) of \
        tokens, the model checks them all in one pass over the union of their experts, and keeps the longest \
        run that matches its own greedy choice plus one more token. The output is identical to plain greedy \
        decoding, always; what changes is the speed. Drafters: ngram (prompt lookup: what followed earlier \
        occurrences of the last tokens) and draft:PATH (another model with the same vocabulary, e.g. the q4 \
        pack of the model).

        Examples:
          bffn generate fixtures/reference/mla-blocklinear-rms-bf16-bin --prompt-ids 5,17,42 --max-new-tokens 16
          bffn generate model/ --prompt-ids 1,2,3 --max-new-tokens 64 --threads 2 --json
          bffn generate model.bfpk --prompt-ids 1,2,3 --speculative ngram --draft-tokens 8
          bffn generate model.bfpk --prompt-ids 1,2,3 --speculative draft:model-q4.bfpk --tree 2x4
        """
    )

    @Argument(help: "A .bfpk pack or a checkpoint (folder, .safetensors, .bin or shard index).", completion: .file())
    var model: String

    @Option(help: "The prompt as comma-separated token ids, e.g. 5,17,42.")
    var promptIds: String

    @Option(help: "How many tokens to generate.")
    var maxNewTokens: Int = 32

    @Option(help: "Expert computation: sparse (only active experts) or dense (all; same output).")
    var ffn: String = "sparse"

    @OptionGroup var loading: WeightLoadingOptions

    @OptionGroup var drafting: DraftOptions

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard maxNewTokens >= 0 && maxNewTokens <= 1_000_000 else { throw ValidationError("--max-new-tokens must be 0...1000000") }
        guard FFNMode(rawValue: ffn) != nil else { throw ValidationError("--ffn must be sparse or dense") }
        _ = try parseTokenIds(promptIds)
    }

    func run() throws {
        try printing.run {
            let prompt = try parseTokenIds(promptIds)
            let progress = ProgressReporter(label: "generate", options: printing)
            progress.note("loading \(model)")
            let engine = try Engine(weights: loading.open(model), options: EngineOptions(threads: threading.threads, ffnMode: FFNMode(rawValue: ffn)!))
            progress.note("generating up to \(maxNewTokens) tokens")
            let ids: [Int], tokensPerSecond: Double, prefillSeconds: Double, expertsRead: Double
            var speculativeJSON: JSONValue? = nil
            var note = ""
            if let drafter = try drafting.drafter(default: .none).makeDrafter(vocabularySize: engine.weights.architecture.vocabSize, threads: threading.threads) {
                let shape = try drafting.shape()
                let r = try SpeculativeDecoder.generate(engine, drafter: drafter, shape: shape, prompt: prompt, maxNewTokens: maxNewTokens)
                (ids, tokensPerSecond, prefillSeconds, expertsRead) = (r.generatedIds, r.tokensPerSecond, r.prefillSeconds, r.expertsReadFraction)
                speculativeJSON = .object([
                    ("drafter", .string(drafter.name)), ("shape", .string(shape.description)),
                    ("steps", .integer(r.steps)), ("drafted_tokens", .integer(r.draftedTokens)),
                    ("accepted_tokens", .integer(r.acceptedTokens)), ("mean_accept_length", .double(r.meanAcceptLength)),
                    ("draft_seconds", .double(r.draftSeconds)), ("verified_chunk_sparsity", .double(r.chunkSparsity)),
                ])
                note = ", \(fixed(r.meanAcceptLength, 2)) tokens per step (\(drafter.name), \(shape))"
            } else {
                let r = try GreedyDecoder.generate(engine, prompt: prompt, maxNewTokens: maxNewTokens)
                (ids, tokensPerSecond, prefillSeconds, expertsRead) = (r.generatedIds, r.tokensPerSecond, r.prefillSeconds, r.expertsReadFraction)
            }
            progress.finish()
            if printing.json {
                var members: [(String, JSONValue)] = [
                    ("prompt_ids", .array(prompt.map { .integer($0) })),
                    ("generated_ids", .array(ids.map { .integer($0) })),
                    ("decode_tokens_per_second", .double(tokensPerSecond)),
                    ("prefill_seconds", .double(prefillSeconds)),
                    ("experts_read_fraction", .double(expertsRead)),
                ]
                if let speculativeJSON { members.append(("speculative", speculativeJSON)) }
                printing.emit(.object(members))
            } else {
                print(ids.map(String.init).joined(separator: ","))
                // The first token comes from the prefill; decode speed and experts read are per decode step.
                let decode = ids.count > 1
                    ? "\(fixed(tokensPerSecond, 1)) tokens/s\(note), experts read \(fixed(expertsRead * 100, 1)) % per token"
                    : "no decode steps"
                FileHandleOutput.standardError("\(ids.count) tokens, prefill \(fixed(prefillSeconds, 3)) s, \(decode)\n")
            }
        }
    }
}

/// Parses "5,17,42" into ids (spaces allowed around items).
/// - Throws: `ValidationError` naming the bad item.
func parseTokenIds(_ text: String) throws -> [Int] {
    do { return try TokenSequenceFile.parse(text, whitespace: " ") } catch let e as BFFNError { throw ValidationError(e.reason) }
}
