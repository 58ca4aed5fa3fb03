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
        try render(turns: messages.map { ($0.role.rawValue, $0.content) }, template: template, addGenerationPrompt: addGenerationPrompt)
    }

    /// `render(_:template:addGenerationPrompt:)` for turns whose role is any string, as an HTTP request gives them:
    /// a template sees the roles as they are (it may accept `tool` or refuse an unknown one); the published format
    /// writes `system` and `assistant` turns as such and every other role as a user turn.
    /// - Throws: the template's errors.
    public static func render(turns: [(role: String, content: String)], template: ChatTemplate?,
                              addGenerationPrompt: Bool = true) throws -> (text: String, addSpecialTokens: Bool) {
        guard let template else {
            let messages = turns.map { ChatMessage(role: ChatMessage.Role(rawValue: $0.role) ?? .user, content: $0.content) }
            var text = ChatFormat.miniCPM.render(messages)
            if !addGenerationPrompt, text.hasSuffix(ChatFormat.miniCPM.assistantPrefix), messages.last?.role != .assistant {
                text.removeLast(ChatFormat.miniCPM.assistantPrefix.count)
            }
            return (text, true)
        }
        let json = turns.map { JSONValue.object([("role", .string($0.role)), ("content", .string($0.content))]) }
        let text = try template.render(messages: json, addGenerationPrompt: addGenerationPrompt, bosToken: template.bosToken, eosToken: template.eosToken)
        return (text, false)
    }
}
