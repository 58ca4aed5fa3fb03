import BFFNCore

/// How a chat turn is written into the prompt text. MiniCPM's SFT models (and BlockFFN's) are trained on
/// `<用户>{question}<AI>`: the user's text after the `<用户>` marker, the reply generated after `<AI>`.
///
/// Several turns follow MiniCPM's chat template: system text first (as it is), then `<用户>{user}<AI>{assistant}`
/// per turn, so a conversation ending with a user message ends with `<AI>`, where the reply is generated. One
/// user message is exactly `wrap`'s `<用户>{prompt}<AI>`.
public struct ChatFormat: Sendable {
    /// Text before the user's message.
    public var userPrefix: String
    /// Text after it, where the reply begins.
    public var assistantPrefix: String

    /// The MiniCPM format.
    public static let miniCPM = ChatFormat(userPrefix: "<用户>", assistantPrefix: "<AI>")

    /// `message` as one user turn followed by the start of the reply.
    public func wrap(_ message: String) -> String { userPrefix + message + assistantPrefix }

    /// The markers (`userPrefix`, `assistantPrefix`) that `tokenizer` does not encode as one token each: its
    /// vocabulary lacks them, so a model trained on them never saw them (a base model's, say). Empty when both
    /// are single tokens.
    /// - Throws: the tokenizer's errors.
    public func markersNotSingleTokens(in tokenizer: TokenizerBundle) throws -> [String] {
        try [userPrefix, assistantPrefix].filter { try tokenizer.encode($0, addSpecial: false).count != 1 }
    }

    /// `messages` as one prompt: system messages' text as it is, a user message as `userPrefix + text +
    /// assistantPrefix`, an assistant message's text as it is after that (or after `assistantPrefix` when no user
    /// message precedes it). A conversation ending with a user message ends where the reply begins; one ending
    /// with an assistant message is continued.
    public func render(_ messages: [ChatMessage]) -> String {
        var text = "", afterUser = false
        for m in messages {
            switch m.role {
            case .system:
                text += m.content
                afterUser = false
            case .user:
                text += wrap(m.content)
                afterUser = true
            case .assistant:
                text += (afterUser ? "" : assistantPrefix) + m.content
                afterUser = false
            }
        }
        return text
    }
}

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    /// Who speaks.
    public enum Role: String, Sendable, CaseIterable {
        /// Instructions before the conversation.
        case system
        /// The person asking.
        case user
        /// The model's earlier replies.
        case assistant
    }

    /// Who speaks.
    public var role: Role
    /// What is said.
    public var content: String

    /// A message.
    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }

    /// Reads a JSON list of `{"role": "system"|"user"|"assistant", "content": TEXT}` objects.
    /// - Parameter file: named in errors.
    /// - Throws: `.invalidJSON` for text that is not JSON, not a non-empty list of such objects, or an object
    ///   without a known role or a string content (the field names the index and key, e.g. `[2].role`).
    public static func conversation(json text: String, file: String) throws -> [ChatMessage] {
        let json = try JSONValue.parse(text, file: file, what: "chat file")
        guard let list = json.arrayElements else {
            throw BFFNError(.invalidJSON, "a chat file is a JSON list of {\"role\", \"content\"} messages", file: file)
        }
        guard !list.isEmpty else { throw BFFNError(.invalidJSON, "the chat file has no messages", file: file) }
        return try list.enumerated().map { i, item in
            guard item.objectMembers != nil else {
                throw BFFNError(.invalidJSON, "message \(i) is not an object with \"role\" and \"content\"", file: file, field: "[\(i)]")
            }
            guard let name = item["role"]?.stringValue, let role = Role(rawValue: name) else {
                throw BFFNError(.invalidJSON, "message \(i) needs a \"role\" of system, user or assistant", file: file, field: "[\(i)].role")
            }
            guard let content = item["content"]?.stringValue else {
                throw BFFNError(.invalidJSON, "message \(i) needs a string \"content\"", file: file, field: "[\(i)].content")
            }
            return ChatMessage(role: role, content: content)
        }
    }
}
