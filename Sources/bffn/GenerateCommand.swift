import ArgumentParser
import BFFN
import BFFNCore
import BFFNEngine
import BFFNPack
import BFFNSpeculative
import BFFNTokenizer

/// `bffn generate MODEL --prompt TEXT`: text in, text out, with the built-in engine.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text (or token ids) with the built-in float32 engine.",
        discussion: """
        The prompt is text (--prompt, --prompt-file; --chat makes it a user turn of a conversation) encoded with \
        the model's tokenizer (bos added as tokenizer_config.json says), or \
        token ids (--prompt-ids). The generated text is printed as tokens are accepted; --json prints text and \
        ids at the end. Generation stops at --max-new-tokens, at any end-of-sequence id of \
        generation_config.json or config.json (--ignore-eos goes on), or when the sequence fills the model's \
        context (max_position_embeddings; a warning), or when the text contains a --stop string (cut before it). \
        A prompt longer than the context is an error. --chat-file takes a conversation (a JSON list of \
        {"role", "content"} messages); --system puts a system message first. A conversation is written with the \
        model's chat template when it has one (as bffn chat-template prints it), else in the published BlockFFN \
        format: system text, then <用户>{user}<AI>{assistant} per turn, ending with <AI>; a tokenizer without \
        <用户> and <AI> as tokens then gets a warning.

        Greedy decoding (argmax, ties to the lowest id) is the default. --temperature T > 0 samples from the \
        softmax of logits/T, restricted by --top-k, --top-p and --min-p; --seed makes it repeatable (same seed, same \
        text). --repeat-penalty P divides the positive logits (multiplies the negative ones) of the tokens seen in \
        the last --repeat-last-n tokens by P before anything else, in greedy decoding too.

        With --speculative, a drafter proposes a chain (--draft-tokens K) or a tree (--tree WIDTHxDEPTH) of \
        tokens, the model checks them all in one pass over the union of their experts, and keeps the longest \
        run that matches its own greedy choice plus one more token; the output is identical to plain greedy \
        decoding. Under sampling, each draft token is accepted with the target's probability of it and otherwise \
        resampled from the rest, so the text follows the target's distribution exactly. Drafters: ngram (prompt \
        lookup), draft:PATH (another model with the same vocabulary, e.g. the q4 pack of the model) and \
        eagle:PATH (an EAGLE draft head in the published layout; eagle alone: the head the model's pack carries), \
        which grows the published dynamic tree (--tree-size 32, --draft-depth 3, --draft-topk 10). Each step \
        drafts only as much as the run's measurements say pays (--fixed-draft: always the whole draft).

        Examples:
          bffn generate fixtures/trained --prompt "The list type" --max-new-tokens 40
          bffn generate model.bfpk --prompt "What is a tuple?" --chat --temperature 0.7 --top-p 0.9 --seed 1
          bffn generate model.bfpk --prompt-file prompt.txt --speculative draft:model-q4.bfpk --json
          bffn generate fixtures/trained --prompt "import os" --speculative eagle:fixtures/trained/eagle
          bffn generate fixtures/reference/mla-blocklinear-rms-bf16-bin --prompt-ids 5,17,42 --max-new-tokens 16
        """
    )

    @Argument(help: "A .bfpk pack or a checkpoint (folder, .safetensors, .bin or shard index), or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @OptionGroup var input: PromptOptions

    @Flag(help: "Make the prompt one user turn of a conversation, written with the model's chat template (else the published <用户>{prompt}<AI> format).")
    var chat = false

    @OptionGroup var chatting: ChatPromptOptions

    @Option(name: [.customShort("n"), .long], help: "How many tokens to generate at most.")
    var maxNewTokens: Int = 32

    @Flag(help: "Do not stop at end-of-sequence ids.")
    var ignoreEos = false

    @Option(help: "0 for greedy decoding (the default); otherwise the sampling temperature.")
    var temperature: Double = 0

    @Option(help: "Sample only from the k most likely tokens (0: all).")
    var topK: Int = 0

    @Option(help: "Sample only from the most likely tokens whose probabilities reach p (1: all).")
    var topP: Double = 1

    @Option(help: "The sampling seed.")
    var seed: UInt64 = 0

    @OptionGroup var repetition: RepetitionOptions

    @OptionGroup var running: ModelRunOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var printing: OutputOptions

    func validate() throws {
        guard input.givenCount + (chatting.chatFile != nil ? 1 : 0) == 1 else {
            throw ValidationError("give exactly one of --prompt, --prompt-file, --prompt-ids and --chat-file")
        }
        guard chatting.system == nil || chat || chatting.chatFile != nil else { throw ValidationError("--system needs --chat or --chat-file") }
        guard maxNewTokens >= 0 && maxNewTokens <= 1_000_000 else { throw ValidationError("--max-new-tokens must be 0...1000000") }
        guard temperature >= 0 && temperature.isFinite && temperature <= 100 else { throw ValidationError("--temperature must be 0...100") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard !(chat && input.promptIds != nil) else { throw ValidationError("--chat wraps text prompts; it does not apply to --prompt-ids") }
        _ = try input.ids()
    }

    func run() throws {
        try printing.run {
            let progress = ProgressReporter(label: "generate", options: printing)
            progress.note("loading \(self.model)")
            let options = try running.modelOptions(threads: threading.threads)
            let model = try BlockFFNModel(path: self.model, options: options)
            // The prompt: ids, or text (a chat's rendered text) for the model's tokenizer.
            let prompt: Prompt
            if let ids = try input.ids() {
                prompt = .ids(ids)
            } else if chat || chatting.chatFile != nil {
                if model.chatTemplate == nil { try ChatPromptOptions.warnAboutMarkers(try model.requireTokenizer()) }
                prompt = .chat(try chatting.messages(prompt: try input.text()))
            } else {
                prompt = .text(try input.text() ?? "")
            }
            var settings = GenerationSettings()
            settings.maxNewTokens = maxNewTokens
            settings.temperature = temperature
            settings.topK = topK
            settings.topP = topP
            settings.seed = seed
            settings.ignoreEndOfSequence = ignoreEos
            repetition.apply(to: &settings)
            progress.finish()
            // Text streams as tokens are accepted (text prompts, not --json).
            let streamed = input.promptIds == nil && !printing.json
            let r = try model.generate(prompt, settings: settings, onText: streamed ? { piece in
                FileHandleOutput.standardOutput(piece)
                return true
            } : nil)
            if streamed { FileHandleOutput.standardOutput("\n") }
            if r.stopReason == .contextLimit {
                FileHandleOutput.standardError("bffn: warning: stopped at the model's context of \(model.config.maxPositionEmbeddings ?? 0) positions (max_position_embeddings)\n")
            }
            if printing.json {
                printing.emit(r.json)
            } else {
                if input.promptIds != nil { print(r.generatedIds.map(String.init).joined(separator: ",")) }
                if !printing.quiet {
                    FileHandleOutput.standardError(r.summaryLine + "\n")
                    if let memory = model.memoryReport(tokens: r.promptIds.count + r.generatedIds.count) { FileHandleOutput.standardError(memory.text + "\n") }
                }
            }
        }
    }
}
