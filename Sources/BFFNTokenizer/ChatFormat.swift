/// How a chat turn is written into the prompt text. MiniCPM's SFT models (and BlockFFN's) are trained on
/// `<用户>{question}<AI>`: the user's text after the `<用户>` marker, the reply generated after `<AI>`.
public struct ChatFormat: Sendable {
    /// Text before the user's message.
    public var userPrefix: String
    /// Text after it, where the reply begins.
    public var assistantPrefix: String

    /// The MiniCPM format.
    public static let miniCPM = ChatFormat(userPrefix: "<用户>", assistantPrefix: "<AI>")

    /// `message` as one user turn followed by the start of the reply.
    public func wrap(_ message: String) -> String { userPrefix + message + assistantPrefix }
}
