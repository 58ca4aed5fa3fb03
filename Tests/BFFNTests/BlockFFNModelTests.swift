import BFFN
import BFFNCore
import BFFNEngine
import BFFNSpeculative
import BFFNTestSupport
import BFFNTokenizer
import Dispatch
import Synchronization
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

    /// With `parallelSequences`, calls from several threads are decoded together, and each caller still gets exactly
    /// what it gets alone: ids, text, streamed pieces and stop reason (greedy, seeded sampling, a stop string, the
    /// repeat penalty); six callers share three places, so some wait for a place.
    @Test func parallelSequencesGiveEachCallerItsSoloResult() throws {
        let solo = try Self.open()
        let model = try Self.open { $0.parallelSequences = 3 }
        var sampled = Self.settings(14)
        sampled.temperature = 0.8
        sampled.seed = 5
        var stopped = Self.settings(30)
        stopped.stop = ["("]
        var penalised = Self.settings(16)
        penalised.repeatPenalty = 1.4
        let jobs: [(String, GenerationSettings)] = [("def f(x):", Self.settings(12)), ("class A:", sampled), ("import sys", stopped),
                                                   ("for i in range(3):", penalised), ("x = [", Self.settings(3)), ("# list", sampled)]
        struct Outcome: Equatable, Sendable { var ids: [Int], text: String?, pieces: String, reason: StopReason }
        let entered = Atomic<Int>(0)
        func run(_ m: BlockFFNModel, _ job: (String, GenerationSettings), gate: Bool = false) throws -> Outcome {
            var pieces = ""
            if gate { entered.add(1, ordering: .relaxed) }
            let g = try m.generate(.text(job.0), settings: job.1) { piece in
                // The first text waits until every caller has entered generate, so the calls overlap on any machine.
                if gate && pieces.isEmpty {
                    for _ in 0..<1000 where entered.load(ordering: .relaxed) < jobs.count { usleep(1000) }
                    usleep(20_000)
                }
                pieces += piece
                return true
            }
            return Outcome(ids: g.generatedIds, text: g.text, pieces: pieces, reason: g.stopReason)
        }
        let alone = try jobs.map { try run(solo, $0) }
        let results = Mutex([Int: Result<Outcome, any Error>]())
        let done = DispatchSemaphore(value: 0)
        for (i, job) in jobs.enumerated() {
            #expect(Threads.startDetached {
                let r = Result { try run(model, job, gate: true) }
                results.withLock { $0[i] = r }
                done.signal()
            })
        }
        for _ in jobs { done.wait() }
        let together = try results.withLock { r in try jobs.indices.map { try r[$0]!.get() } }
        #expect(together == alone)
        #expect(alone.contains { $0.reason == .stopString } && alone.contains { $0.ids.count >= 12 })
        // The calls did share steps: fewer forward calls than tokens chosen.
        let stats = try #require(model.batchStatistics)
        #expect(stats.sequenceSteps >= alone.reduce(0) { $0 + $1.ids.count } && stats.steps < stats.sequenceSteps, "\(stats)")
        #expect(solo.batchStatistics == nil)
    }

    /// Log-probabilities: one per generated id, the same numbers with speculative decoding (n-gram and EAGLE) as
    /// plain, and the pieces of `generatePieces` bring them all, in order, with the text.
    @Test func logprobsAreTheSameWithSpeculationAndComeWithThePieces() throws {
        var settings = Self.settings(20)
        settings.logprobs = 2
        settings.repeatPenalty = 1.1
        let plain = try Self.open()
        var pieces: [GeneratedPiece] = []
        let a = try plain.generatePieces(.text("import os\nimport"), settings: settings) { pieces.append($0); return true }
        #expect(a.logprobs.map(\.id) == a.generatedIds && a.logprobs.allSatisfy { $0.top.count == 2 && $0.logprob <= 0 })
        #expect(pieces.flatMap(\.logprobs) == a.logprobs && pieces.map(\.text).joined() == a.text)
        for drafter in [DrafterChoice.ngram, .eagle(path: Fixtures.trainedEagle, vocabulary: nil)] {
            let b = try Self.open { $0.speculative = drafter }.generate(.text("import os\nimport"), settings: settings)
            #expect(b.generatedIds == a.generatedIds && b.logprobs == a.logprobs, "\(drafter)")
        }
        settings.logprobs = 21
        #expect(throws: BFFNError.self) { try plain.generate(.text("x"), settings: settings) }
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
