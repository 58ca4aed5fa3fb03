import BFFNCore
import BFFNTestSupport
import Testing

/// docs/json.md against real output: every command's top-level keys are exactly the documented ones, with the
/// documented types, and start with the schema version.
@Suite("JSON vocabulary", .serialized)
struct JSONVocabularyTests {
    /// Section title → documented keys with their types (`int`, `number`, `string`, `bool`, `object`, `array`,
    /// a trailing `?` allowing null).
    static func documented() throws -> [String: [(key: String, type: String)]] {
        let text = String(decoding: try Fixtures.bytes(Fixtures.repositoryRoot + "/docs/json.md"), as: UTF8.self)
        var out: [String: [(String, String)]] = [:]
        var section = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("## ") { section = String(line.dropFirst(3)); continue }
            guard line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|").map { $0.trimmingPrefix(" ") }.map { String($0).split(separator: " ").joined(separator: " ") }
            guard cells.count >= 2 else { continue }
            let keys = cells[0].split(separator: ",").map { $0.filter { $0 != "`" && $0 != " " } }
            for k in keys { out[section, default: []].append((String(k), cells[1])) }
        }
        return out
    }

    static func matches(_ value: JSONValue, _ type: String) -> Bool {
        var t = type
        if t.hasSuffix("?") {
            if value == .null { return true }
            t.removeLast()
        }
        switch (t, value) {
        case ("int", .int), ("string", .string), ("bool", .bool), ("object", .object), ("array", .array): return true
        case ("number", .int), ("number", .double): return true
        default: return false
        }
    }

    /// Runs `args` with --json and checks its keys against the section `section`.
    static func check(_ section: String, _ args: [String], docs: [String: [(key: String, type: String)]]) throws {
        let r = try runBFFN(args + ["--json"])
        #expect(r.status == 0, "\(args): \(r.stderr)")
        let j = try JSONValue.parse(r.stdout)
        let members = try #require(j.objectMembers, "\(section)")
        let table = try #require(docs[section], "docs/json.md has no section \(section)")
        #expect(members.first?.key == "schema" && j["schema"] == 1, "\(section)")
        #expect(Set(members.map(\.key)) == Set(table.map(\.key)),
                "\(section): undocumented \(Set(members.map(\.key)).subtracting(table.map(\.key)).sorted()), missing \(Set(table.map(\.key)).subtracting(members.map(\.key)).sorted())")
        for (key, type) in table {
            if let v = j[key] { #expect(matches(v, type), "\(section).\(key) is \(v), documented \(type)") }
        }
    }

    @Test func everyCommandPrintsItsDocumentedKeys() throws {
        let docs = try Self.documented()
        #expect(docs.count == 22)
        let dir = TemporaryDirectory()
        let model = Fixtures.blockLinearReference, pack = dir.file("m.bfpk")
        try Self.check("inspect (checkpoint)", ["inspect", model, "--check"], docs: docs)
        try Self.check("inspect (draft head)", ["inspect", Fixtures.trainedEagle], docs: docs)
        try Self.check("convert", ["convert", model, "-o", pack, "--quant", "q4/g64"], docs: docs)
        try Self.check("inspect (pack)", ["inspect", pack, "--check"], docs: docs)
        try Self.check("export", ["export", pack, "-o", dir.file("out")], docs: docs)
        try Self.check("calibrate", ["calibrate", Fixtures.trainedModel, "--text", Fixtures.trainedModel + "/prompts.txt", "--context", "64",
                                     "-o", dir.file("stats.safetensors")], docs: docs)
        let shortText = try dir.write("short.txt", text: "def add(a, b):\n    return a + b\n")
        try Self.check("calibrate (sensitivity)", ["calibrate", Fixtures.trainedModel, "--text", shortText, "--sensitivity"], docs: docs)
        try Self.check("generate", ["generate", model, "--prompt-ids", "1,2,3", "--max-new-tokens", "4", "--speculative", "ngram", "--logprobs", "2"], docs: docs)
        try Self.check("verify", ["verify", model, "--reference", model + "/reference.safetensors"], docs: docs)
        try Self.check("pack", ["pack", model, "-o", dir.file("p.bfpk"), "--profile", "cpu"], docs: docs)
        try Self.check("synth", ["synth", "--preset", "tiny", "--out", dir.file("s")], docs: docs)
        try Self.check("bench", ["bench", dir.file("s"), "--tokens", "2"], docs: docs)
        try Self.check("plot", ["plot", model, "-o", dir.file("plots")], docs: docs)
        let layer = Fixtures.path("skill-card-layer")
        try Self.check("inspect (skill-card layer)", ["inspect", layer], docs: docs)
        try Self.check("convert (skill-card layer)", ["convert", layer, "-o", dir.file("layer.bfpk")], docs: docs)
        try Self.check("verify (skill-card layer)", ["verify", dir.file("layer.bfpk"), "--reference", layer + "/layer-reference.safetensors"], docs: docs)
        try Self.check("bench (memory budget)", ["bench", pack, "--memory-budget", "1G", "--tokens", "2"], docs: docs)
        try Self.check("trace", ["trace", Fixtures.trainedModel, "--prompts", Fixtures.trainedModel + "/prompts.txt", "-o", dir.file("t.safetensors")], docs: docs)
        try Self.check("trace (simulate)", ["trace", "--simulate", dir.file("t.safetensors"), "--budget", "50%,1M"], docs: docs)
        try Self.check("tokenize", ["tokenize", Fixtures.path("text/sp-bpe"), "-p", "Hello"], docs: docs)
        try Self.check("detokenize", ["detokenize", Fixtures.path("text/hf-bytelevel"), "--ids", "5,6,7"], docs: docs)
        try Self.check("kernels", ["kernels"], docs: docs)
        // A usage error under --json is the documented error object.
        let e = try runBFFN(["convert", model, "--json"])
        #expect(e.status == 2)
        let err = try JSONValue.parse(e.stdout)
        #expect(err["schema"] == 1 && err["error"]?["code"] == "usage" && err["error"]?["reason"]?.stringValue?.contains("--output") == true)
    }
}
