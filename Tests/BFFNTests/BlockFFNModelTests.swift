import BFFN
import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import BFFNTokenizer
import Testing

/// The app-facing API: one model, many generations, streamed and cancellable, from several threads.
@Suite("BlockFFNModel") struct BlockFFNModelTests {
    static func open(_ configure: (inout BlockFFNModel.Options) -> Void = { _ in }) throws -> BlockFFNModel {
        var o = BlockFFNModel.Options()
        o.threads = 1
        configure(&o)
        return try BlockFFNModel(path: Fixtures.trainedModel, options: o)
    }

    static func settings(_ n: Int) -> GenerationSettings {
        var s = GenerationSettings()
        s.maxNewTokens = n
        return s
    }

    /// The streamed pieces make up the result's text; a second call on the same model gives the same tokens (a
    /// fresh cache each time), and the text decodes the generated ids.
    @Test func streamedPiecesAreTheTextAndCallsAreIndependent() throws {
        let model = try Self.open()
        var pieces: [String] = []
        let first = try model.generate(.text("def add(a, b):"), settings: Self.settings(16)) { pieces.append($0); return true }
        #expect(first.generatedIds.count == 16 && first.stopReason == .length)
        #expect(pieces.joined() == first.text && pieces.count > 1)
        #expect(try model.detokenize(first.generatedIds) == first.text)
        let again = try model.generate(.text("def add(a, b):"), settings: Self.settings(16))
        #expect(again.generatedIds == first.generatedIds)
        #expect(first.promptIds == (try model.tokenize("def add(a, b):", addSpecialTokens: true)))
        #expect(first.json["generated_ids"] == .array(first.generatedIds.map { .integer($0) }))
    }

    /// Returning false from the text callback stops after the current token: stop reason cancelled, the ids so far.
    @Test func theCallbackStopsGeneration() throws {
        let model = try Self.open()
        var calls = 0
        var s = Self.settings(64)
        s.ignoreEndOfSequence = true
        let r = try model.generate(.ids([1, 475, 765]), settings: s) { _ in calls += 1; return calls < 3 }
        #expect(r.stopReason == .cancelled && calls == 3 && r.generatedIds.count < 64, "\(r.generatedIds.count)")
        // Nothing of the stopped generation leaks into the next one.
        let full = try model.generate(.ids([1, 475, 765]), settings: s)
        #expect(full.generatedIds.count == 64 && Array(full.generatedIds.prefix(r.generatedIds.count)) == r.generatedIds)
    }

    /// Speculative decoding (prompt lookup, and the bundled EAGLE head) gives plain decoding's greedy tokens, and
    /// seeded sampling is reproducible with it (the same distribution as plain sampling, not the same draws); the
    /// summary reports the drafter.
    @Test func speculativeOptionsGiveTheSameTokens() throws {
        let plain = try Self.open()
        var sampled = Self.settings(20)
        sampled.temperature = 0.8
        sampled.seed = 7
        for drafter in [DrafterChoice.ngram, .eagle(path: Fixtures.trainedEagle, vocabulary: nil)] {
            let spec = try Self.open { $0.speculative = drafter }
            let a = try plain.generate(.text("import os\nimport"), settings: Self.settings(20))
            let b = try spec.generate(.text("import os\nimport"), settings: Self.settings(20))
            #expect(a.generatedIds == b.generatedIds, "\(drafter)")
            #expect(b.speculative != nil && b.summaryLine.contains("tokens per step"))
            let s1 = try spec.generate(.text("import os\nimport"), settings: sampled)
            let s2 = try spec.generate(.text("import os\nimport"), settings: sampled)
            #expect(s1.generatedIds == s2.generatedIds && s1.generatedIds.count == 20)
        }
    }

    /// Calls from several threads on one model are serialized and give each caller what it alone would get.
    @Test func concurrentCallersGetTheirOwnResults() async throws {
        let model = try Self.open()
        let prompts = ["def f(x):", "class A:", "import sys", "for i in range(3):"]
        let alone = try prompts.map { try model.generate(.text($0), settings: Self.settings(8)).generatedIds }
        let together = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask { (i, try model.generate(.text(p), settings: Self.settings(8)).generatedIds) }
            }
            var out = [[Int]](repeating: [], count: prompts.count)
            for try await (i, ids) in group { out[i] = ids }
            return out
        }
        #expect(together == alone)
    }

    /// The asynchronous stream yields the same text as a plain call.
    @Test func asyncStreamYieldsTheText() async throws {
        let model = try Self.open()
        var text = ""
        for try await piece in model.stream(.text("def add(a, b):"), settings: Self.settings(12)) { text += piece }
        #expect(text == (try model.generate(.text("def add(a, b):"), settings: Self.settings(12)).text))
    }

    /// Chats are written in the published format; bad settings and prompts are usage errors.
    @Test func chatsAndErrors() throws {
        let model = try Self.open()
        let chat = try model.encode(.chat([ChatMessage(role: .user, content: "hi")]))
        #expect(chat == (try model.tokenize("<用户>hi<AI>", addSpecialTokens: true)))
        #expect(throws: BFFNError.self) { try model.generate(.ids([]), settings: Self.settings(4)) }
        #expect(throws: BFFNError.self) { try model.generate(.ids([1, 1 << 30]), settings: Self.settings(4)) }
        var bad = Self.settings(4)
        bad.topP = 0
        #expect(throws: BFFNError.self) { try model.generate(.text("x"), settings: bad) }
        #expect(throws: BFFNError.self) { try BlockFFNModel(path: "/nonexistent/model") }
    }
}
