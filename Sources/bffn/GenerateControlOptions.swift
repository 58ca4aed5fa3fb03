import ArgumentParser
import BFFN
import BFFNCore
import BFFNEngine
import BFFNTokenizer

/// `generate`'s repeat penalty, min-p, stop strings and log-probabilities (SamplingOptions, GenerationOptions).
struct RepetitionOptions: ParsableArguments {
    @Option(help: "Repeat penalty P (llama.cpp, CTRL): the logit of each token seen in the last --repeat-last-n tokens is divided by P when positive, else multiplied by P (1: off). Greedy decoding stays deterministic.")
    var repeatPenalty: Double = 1

    @Option(help: "How many of the last tokens (prompt and generated) --repeat-penalty looks at (0: none; -1: all).")
    var repeatLastN: Int = 64

    @Option(help: "Sample only from tokens at least P times as likely as the most likely one (0: all; after --top-k and --top-p).")
    var minP: Double = 0

    @Option(help: ArgumentHelp("With --json: each generated token's log-probability (log-softmax after the repeat penalty, temperature 1) and the N most likely alternatives, 0...20.", valueName: "n"))
    var logprobs: Int?

    @Option(help: ArgumentHelp("End generation when the text contains STRING (repeatable); the text is cut before it (stop_reason stop).", valueName: "string"))
    var stop: [String] = []

    func validate() throws {
        guard repeatPenalty > 0 && repeatPenalty.isFinite && repeatPenalty <= 100 else { throw ValidationError("--repeat-penalty must be in (0, 100]") }
        guard repeatLastN >= -1 else { throw ValidationError("--repeat-last-n must be -1 (all), 0 (none) or more") }
        guard minP >= 0 && minP <= 1 else { throw ValidationError("--min-p must be in [0, 1]") }
        guard !stop.contains("") else { throw ValidationError("--stop needs a non-empty string") }
        if let logprobs { guard (0...20).contains(logprobs) else { throw ValidationError("--logprobs must be 0...20") } }
    }

    /// Sets the penalty, min-p, stop strings and log-probabilities of `settings`.
    func apply(to settings: inout GenerationSettings) {
        settings.repeatPenalty = repeatPenalty
        settings.repeatLastN = repeatLastN
        settings.minP = minP
        settings.stop = stop
        settings.logprobs = logprobs
    }
}

/// `generate`'s chat prompts beyond one turn: --system and --chat-file.
struct ChatPromptOptions: ParsableArguments {
    @Option(help: "With --chat or --chat-file: a system message before the conversation.")
    var system: String?

    @Option(help: "The prompt as a conversation: a JSON list of {\"role\": \"system\"|\"user\"|\"assistant\", \"content\": TEXT}, written with the model's chat template or the published format (instead of --prompt).", completion: .file())
    var chatFile: String?

    /// The conversation: --system first, then the messages of --chat-file, or `prompt` as one user turn.
    /// - Throws: the file's read errors; `.invalidJSON` naming the file and the message's index and field.
    func messages(prompt: String?) throws -> [ChatMessage] {
        var messages = system.map { [ChatMessage(role: .system, content: $0)] } ?? []
        if let chatFile {
            messages += try ChatMessage.conversation(json: readTextInput(chatFile), file: chatFile)
        } else {
            messages.append(ChatMessage(role: .user, content: prompt ?? ""))
        }
        return messages
    }

    /// Warns on stderr when `tokenizer` does not have the chat markers as single tokens (a base model's vocabulary:
    /// the chat format then means nothing to the model).
    static func warnAboutMarkers(_ tokenizer: TokenizerBundle) throws {
        let missing = try ChatFormat.miniCPM.markersNotSingleTokens(in: tokenizer)
        guard !missing.isEmpty else { return }
        FileHandleOutput.standardError("bffn: warning: the tokenizer has no single token for \(missing.joined(separator: " and ")): this model was not trained on the MiniCPM chat format (a base model?), so --chat may give meaningless text\n")
    }
}
