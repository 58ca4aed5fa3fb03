import BFFNCore
import BFFNEngine

extension SpeculativeResult {
    /// This result as `bffn generate --speculative ... --json` spells it (docs/json.md, "generate"): the members
    /// plain decoding has (`GenerationResult.jsonMembers`, with `text` as the result holds it), then `speculative`
    /// with `drafter` and `shape` (as named), `steps`, `drafted_tokens`, `accepted_tokens`, `mean_accept_length`,
    /// `draft_seconds`, `verified_chunk_sparsity`, `cls_spec` (null when no call verified a full tree),
    /// `adaptive` (as given), `plain_steps`, and with adaptive drafting `decisions` (`AdaptiveDrafting.Report.json`).
    public func json(drafter: String, shape: DraftShape, adaptive: Bool) -> JSONValue {
        let speculative = JSONValue.object([
            ("drafter", .string(drafter)), ("shape", .string(shape.description)),
            ("steps", .integer(steps)), ("drafted_tokens", .integer(draftedTokens)),
            ("accepted_tokens", .integer(acceptedTokens)), ("mean_accept_length", .double(meanAcceptLength)),
            ("draft_seconds", .double(draftSeconds)), ("verified_chunk_sparsity", .double(chunkSparsity)),
            ("cls_spec", fullTreeSparsity.map { .double($0) } ?? .null),
            ("adaptive", .bool(adaptive)), ("plain_steps", .integer(plainSteps)),
        ] + (adaptiveReport.map { [("decisions", $0.json)] } ?? []))
        return .object(GenerationResult.jsonMembers(promptIds: promptIds, generatedIds: generatedIds, text: text, stopReason: stopReason,
                                                    tokensPerSecond: tokensPerSecond, prefillSeconds: prefillSeconds,
                                                    expertsReadFraction: expertsReadFraction)
                       + [JSONMember("speculative", speculative)])
    }
}

extension AdaptiveDrafting.Report {
    /// The report as JSON (docs/json.md, "generate"): `budgets` (an object from node count to steps that verified
    /// that many, "0" for plain steps), `call_ms` (node count to milliseconds of a verification call, "0" a plain
    /// step), `draft_ms_per_level` and `catch_up_ms_per_position` (null when not measured), `expected` (per
    /// candidate size: `nodes`, `tokens` per step and `speedup` over plain decoding at the measured costs) and
    /// `stopped` (null, "cannot_pay" or "probes_cost_too_much").
    public var json: JSONValue {
        func keyed(_ d: [Int: Double]) -> JSONValue { .object(d.keys.sorted().map { (String($0), .double(d[$0]! * 1000)) }) }
        return .object([
            ("budgets", .object(budgets.keys.sorted().map { (String($0), .integer(budgets[$0]!)) })),
            ("call_ms", keyed(callSeconds)),
            ("draft_ms_per_level", draftSecondsPerLevel.map { .double($0 * 1000) } ?? .null),
            ("catch_up_ms_per_position", catchUpSecondsPerPosition.map { .double($0 * 1000) } ?? .null),
            ("expected", .array(expected.map { .object([("nodes", .integer($0.nodes)), ("tokens", .double($0.tokens)), ("speedup", .double($0.speedup))]) })),
            ("stopped", stopped.map { .string($0.rawValue) } ?? .null),
        ])
    }
}
