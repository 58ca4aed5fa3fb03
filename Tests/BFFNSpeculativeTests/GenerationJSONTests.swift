import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import Testing

/// `bffn generate --json` comes from the result types (docs/json.md, "generate"): plain and speculative results
/// share their first members, in the documented order, with the values the results hold.
@Suite("generation JSON")
struct GenerationJSONTests {
    static let shared = ["prompt_ids", "generated_ids", "text", "stop_reason", "decode_tokens_per_second", "prefill_seconds",
                         "experts_read_fraction"]

    @Test func plainAndSpeculativeResultsSpellTheDocumentedKeys() throws {
        let engine = try Engine(checkpointPath: Fixtures.blockLinearReference, options: EngineOptions(threads: 1))
        let prompt = [5, 17, 42, 5, 17]
        var plain = try GreedyDecoder.generate(engine, prompt: prompt, maxNewTokens: 6)
        #expect(plain.json["text"] == .null)
        plain.text = "decoded"
        let p = plain.json
        #expect(p.objectMembers?.map(\.key) == Self.shared)
        #expect(p["prompt_ids"] == .array(prompt.map { .integer($0) }))
        #expect(p["generated_ids"] == .array(plain.generatedIds.map { .integer($0) }) && plain.generatedIds.count == 6)
        #expect(p["text"] == .string("decoded") && p["stop_reason"] == .string("max_new_tokens"))
        #expect(p["prefill_seconds"]?.numberValue == plain.prefillSeconds && p["experts_read_fraction"]?.numberValue == plain.expertsReadFraction)

        let shape = try DraftShape.tree(width: 2, depth: 3)
        let r = try SpeculativeDecoder.generate(engine, drafter: NGramDrafter(), shape: shape, prompt: prompt, maxNewTokens: 6)
        let s = r.json(drafter: "ngram", shape: shape, adaptive: false)
        #expect(s.objectMembers?.map(\.key) == Self.shared + ["speculative"])
        #expect(s["generated_ids"] == p["generated_ids"])
        let spec = try #require(s["speculative"])
        #expect(spec.objectMembers?.map(\.key) == ["drafter", "shape", "steps", "drafted_tokens", "accepted_tokens", "mean_accept_length",
                                                   "draft_seconds", "verified_chunk_sparsity", "cls_spec", "adaptive", "plain_steps"])
        #expect(spec["drafter"] == .string("ngram") && spec["shape"] == .string(shape.description) && spec["adaptive"] == .bool(false))
        #expect(spec["steps"] == .integer(r.steps) && spec["accepted_tokens"] == .integer(r.acceptedTokens) && r.steps > 0)
        // A command adds what only it knows after the library's members.
        #expect(p.appending("memory", .null).objectMembers?.map(\.key) == Self.shared + ["memory"])
        #expect(JSONValue.int(3).appending("memory", .null) == .int(3))
    }
}
