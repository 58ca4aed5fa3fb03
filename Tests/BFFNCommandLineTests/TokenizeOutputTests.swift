import BFFNCore
import BFFNTestSupport
import Testing

/// `bffn tokenize --json` writes its arrays as it goes: the same bytes as the JSON tree it used to build (json-c's
/// pretty form), and within a bound of memory and time on inputs of megabytes.
@Suite("tokenize output", .serialized)
struct TokenizeOutputTests {
    /// The bytes `emit` writes for the object `output` holds (its members serialised again as one tree).
    static func treeSerialization(of output: String) throws -> String {
        let j = try JSONValue.parse(output)
        let ids = j["ids"]?.arrayElements ?? [], tokens = j["tokens"]?.arrayElements ?? []
        return JSONValue.object([
            ("schema", .integer(1)),
            ("ids", .array(ids.map { .integer($0.intValue ?? -1) })),
            ("tokens", .array(tokens.map { .string($0.stringValue ?? "?") })),
            ("tokenizer", .string(j["tokenizer"]?.stringValue ?? "?")), ("source", .string(j["source"]?.stringValue ?? "?")),
        ]).serialized(pretty: true) + "\n"
    }

    @Test func streamedJSONIsByteForByteTheTreeSerialization() throws {
        let dir = TemporaryDirectory()
        // The model's prompts and held-out text, quotes, backslashes, tabs, control characters and non-ASCII text
        // (escaped by json-c), and the empty text (empty arrays).
        let tricky = try dir.write("tricky.txt", text: "say \"hi\"\\ then\ttab\u{01}\u{1F} / é 東京 🙂 <s> </s>\n\nend")
        for args in [["--prompt-file", Fixtures.trainedModel + "/prompts.txt"], ["--prompt-file", Fixtures.trainedModel + "/heldout.txt"],
                     ["-f", tricky], ["--prompt", ""], ["--text", "Hello"]] {
            let r = try runBFFN(["tokenize", Fixtures.trainedModel] + args + ["--json"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == (try Self.treeSerialization(of: r.stdout)), "\(args)")
            // The text output, also written as it goes, is the ids on one line, then one line per token: its id, a
            // tab and its piece with newline, tab and carriage return shown as \n, \t, \r.
            let plain = try runBFFN(["tokenize", Fixtures.trainedModel] + args)
            let j = try JSONValue.parse(r.stdout)
            let ids = j["ids"]?.arrayElements?.compactMap(\.intValue) ?? []
            let pieces = j["tokens"]?.arrayElements?.compactMap(\.stringValue) ?? []
            var expected = ids.map(String.init).joined(separator: ",") + "\n"
            for (id, piece) in zip(ids, pieces) {
                expected += "\(id)\t" + piece.replacingOccurrences("\n", "\\n").replacingOccurrences("\t", "\\t").replacingOccurrences("\r", "\\r") + "\n"
            }
            #expect(pieces.count == ids.count && plain.stdout == expected, "\(args)")
            if args.first == "--prompt-file" && args.last != tricky { #expect(ids.count > 100) }
        }
    }

    /// 3 MB of random bytes (invalid UTF-8 and control characters: about 2.3 million byte-fallback ids) and 3 MB
    /// of program text, both generated here: `--json` finishes within 1 GB of virtual memory and 30 seconds each
    /// (the tree of JSON values took 1.4 GB resident and 9.8 s on the random bytes), and writes one id per line.
    @Test func megabytesOfInputStayWithinAGigabyte() throws {
        let dir = TemporaryDirectory()
        var random = SplitMix64(seed: 2024)
        var bytes = [UInt8]()
        bytes.reserveCapacity(3_000_000)
        while bytes.count < 3_000_000 { withUnsafeBytes(of: random.next()) { bytes += $0 } }
        var source = ""
        var k = 0
        while source.utf8.count < 3_000_000 {
            source += "def function_\(k)(value, *args, **kwargs):\n    \"\"\"Returns value \(k) times.\"\"\"\n    if value is None:\n        return [x * \(k % 7) for x in range(\(k % 100))]\n    return value + \(k)\n\n"
            k += 1
        }
        let inputs = [try dir.write("random.bin", bytes), try dir.write("source.py", text: source)]
        let sanitized = getenv("ASAN_OPTIONS") != nil || getenv("TSAN_OPTIONS") != nil
        for input in inputs {
            let out = dir.file("out.json"), err = dir.file("err")
            let command = shellQuoted([Fixtures.bffnBinary, "tokenize", Fixtures.trainedModel, "--prompt-file", input, "--json"])
            let status = ChildProcess.runShell("\(sanitized ? "" : "ulimit -v 1000000;") timeout 30 \(command) > '\(out)' 2> '\(err)'")
            let message = String(decoding: (try? Fixtures.bytes(err)) ?? [], as: UTF8.self)
            #expect(status == 0, "\(input): status \(status): \(message)")
            let text = try Fixtures.bytes(out)
            // One line per id and per token, plus 9 lines of keys and brackets.
            let lines = text.filter { $0 == 10 }.count
            #expect(lines > 200_000 && (lines - 9) % 2 == 0, "\(input): \(lines) lines")
            #expect(text.suffix(2) == [125, 10])
        }
    }
}

private extension String {
    /// Every occurrence of `a` replaced by `b` (no Foundation).
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        var out = ""
        for u in unicodeScalars { if String(u) == a { out += b } else { out.unicodeScalars.append(u) } }
        return out
    }
}
