import BFFNChatTemplate
import BFFNCore
import BFFNTokenizer

/// How a conversation becomes a prompt: the model's own chat template when it has one (rendered exactly as
/// transformers' `apply_chat_template` does, docs/chat-templates.md), else the published BlockFFN format.
public enum ChatRendering {
    /// The prompt text of `messages`, and whether encoding it adds the tokenizer's special tokens: with a template,
    /// the template writes them itself (transformers encodes with `add_special_tokens=False`); the published format
    /// (system text first, then `<用户>{user}<AI>{assistant}` per turn, ending with `<AI>` when
    /// `addGenerationPrompt`) is encoded with them.
    /// - Throws: the template's errors (`.templateRaised` with the template's own message, `.templateError`).
    public static func render(_ messages: [ChatMessage], template: ChatTemplate?, addGenerationPrompt: Bool = true) throws -> (text: String, addSpecialTokens: Bool) {
        guard let template else {
            var text = ChatFormat.miniCPM.render(messages)
            if !addGenerationPrompt, text.hasSuffix(ChatFormat.miniCPM.assistantPrefix), messages.last?.role != .assistant {
                text.removeLast(ChatFormat.miniCPM.assistantPrefix.count)
            }
            return (text, true)
        }
        let json = messages.map { JSONValue.object([("role", .string($0.role.rawValue)), ("content", .string($0.content))]) }
        let text = try template.render(messages: json, addGenerationPrompt: addGenerationPrompt, bosToken: template.bosToken, eosToken: template.eosToken)
        return (text, false)
    }
}
