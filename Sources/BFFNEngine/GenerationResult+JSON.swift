import BFFNCore

extension GenerationResult {
    /// The members of `bffn generate --json` (docs/json.md, "generate") that plain and speculative decoding share,
    /// in its order: `prompt_ids`, `generated_ids`, `text` (null when nil), `stop_reason`,
    /// `decode_tokens_per_second`, `prefill_seconds`, `experts_read_fraction`.
    public static func jsonMembers(promptIds: [Int], generatedIds: [Int], text: String?, stopReason: StopReason,
                                   tokensPerSecond: Double, prefillSeconds: Double, expertsReadFraction: Double) -> [JSONMember] {
        [JSONMember("prompt_ids", .array(promptIds.map { .integer($0) })),
         JSONMember("generated_ids", .array(generatedIds.map { .integer($0) })),
         JSONMember("text", text.map { .string($0) } ?? .null),
         JSONMember("stop_reason", .string(stopReason.rawValue)),
         JSONMember("decode_tokens_per_second", .double(tokensPerSecond)),
         JSONMember("prefill_seconds", .double(prefillSeconds)),
         JSONMember("experts_read_fraction", .double(expertsReadFraction))]
    }

    /// This result as `bffn generate --json` spells it (the shared members of `jsonMembers`), with `text` as the
    /// result holds it (the command sets it to the decoded ids first; null without a tokenizer).
    public var json: JSONValue {
        .object(Self.jsonMembers(promptIds: promptIds, generatedIds: generatedIds, text: text, stopReason: stopReason,
                                 tokensPerSecond: tokensPerSecond, prefillSeconds: prefillSeconds, expertsReadFraction: expertsReadFraction))
    }
}
