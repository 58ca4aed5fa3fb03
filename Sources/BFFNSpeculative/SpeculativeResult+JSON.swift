import BFFNCore
import BFFNEngine

extension SpeculativeResult {
    /// This result as `bffn generate --speculative ... --json` spells it (docs/json.md, "generate"): the members
    /// plain decoding has (`GenerationResult.jsonMembers`, with `text` as the result holds it), then `speculative`
    /// with `drafter` and `shape` (as named), `steps`, `drafted_tokens`, `accepted_tokens`, `mean_accept_length`,
    /// `draft_seconds`, `verified_chunk_sparsity`, `cls_spec` (null when no call verified a full tree),
    /// `adaptive` (as given) and `plain_steps`.
    public func json(drafter: String, shape: DraftShape, adaptive: Bool) -> JSONValue {
        let speculative = JSONValue.object([
            ("drafter", .string(drafter)), ("shape", .string(shape.description)),
            ("steps", .integer(steps)), ("drafted_tokens", .integer(draftedTokens)),
            ("accepted_tokens", .integer(acceptedTokens)), ("mean_accept_length", .double(meanAcceptLength)),
            ("draft_seconds", .double(draftSeconds)), ("verified_chunk_sparsity", .double(chunkSparsity)),
            ("cls_spec", fullTreeSparsity.map { .double($0) } ?? .null),
            ("adaptive", .bool(adaptive)), ("plain_steps", .integer(plainSteps)),
        ])
        return .object(GenerationResult.jsonMembers(promptIds: promptIds, generatedIds: generatedIds, text: text, stopReason: stopReason,
                                                    tokensPerSecond: tokensPerSecond, prefillSeconds: prefillSeconds,
                                                    expertsReadFraction: expertsReadFraction)
                       + [JSONMember("speculative", speculative)])
    }
}
