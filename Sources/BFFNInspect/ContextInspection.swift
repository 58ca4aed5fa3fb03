import BFFNCheckpoint
import BFFNCore

/// What `inspect` says about how long a conversation the model takes and whether it ships a chat template: the
/// context length (`max_position_embeddings`), the rotary embedding's base (`rope_theta`) and scaling
/// (`rope_scaling`), and whether a chat template is present (a `chat_template` in tokenizer_config.json, or a
/// `chat_template.jinja` file).
public struct ContextInspection: Sendable, Equatable {
    /// `max_position_embeddings`; nil when the config does not say.
    public var contextLength: Int?
    /// `rope_theta`; nil when the config does not say (the engine then uses 10000).
    public var ropeTheta: Double?
    /// `rope_scaling`; nil when absent or null.
    public var ropeScaling: ModelConfig.RopeScaling?
    /// Where the chat template is: "tokenizer_config.json" or "chat_template.jinja"; nil when there is none.
    public var chatTemplate: String?

    /// The figures of `config`, and the chat template found in `tokenizerConfig` (tokenizer_config.json's bytes)
    /// or named by `hasTemplateFile` (a chat_template.jinja beside the model or carried in the pack).
    public init(config: ModelConfig, tokenizerConfig: [UInt8]?, hasTemplateFile: Bool) {
        contextLength = config.maxPositionEmbeddings
        ropeTheta = config.ropeTheta
        ropeScaling = config.ropeScaling
        if let bytes = tokenizerConfig, let json = try? bytes.withUnsafeBytes({ try JSONValue.parse($0) }),
           let template = json["chat_template"], template != JSONValue.null {
            chatTemplate = "tokenizer_config.json"
        } else if hasTemplateFile {
            chatTemplate = "chat_template.jinja"
        }
    }

    /// The JSON members `context` ({`max_position_embeddings`, `rope_theta`, `rope_scaling` ({`type`,
    /// `factor`} or null)}) and `chat_template` (where it is, or null).
    public var jsonMembers: [(String, JSONValue)] {
        [("context", .object([
            ("max_position_embeddings", contextLength.map { .integer($0) } ?? .null),
            ("rope_theta", ropeTheta.map { .double($0) } ?? .null),
            ("rope_scaling", ropeScaling.map { .object([("type", .string($0.type)), ("factor", .double($0.factor))]) } ?? .null),
        ])),
         ("chat_template", chatTemplate.map { .string($0) } ?? .null)]
    }

    /// Two report lines: the context and rope, and the chat template.
    public var textLines: [String] {
        let length = contextLength.map { "\(TextNumber.grouped(UInt64(max(0, $0)))) positions (max_position_embeddings)" } ?? "not given (no max_position_embeddings)"
        let theta = ropeTheta.map { "rope theta \(Self.plain($0))" } ?? "rope theta not given (10000)"
        let scaling = ropeScaling.map { "rope scaling \($0.type) x\(Self.plain($0.factor))" } ?? "no rope scaling"
        return ["context     \(length), \(theta), \(scaling)",
                "chat        " + (chatTemplate.map { "template in \($0)" } ?? "no chat template (generate --chat uses the MiniCPM format)")]
    }

    /// A config number as written: 10000 and 4 without a fraction, 1.5 as it is.
    static func plain(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }
}
