import BFFNCore

/// Encoding speed of a tokenizer on one thread (`bffn bench --tokenize FILE`).
public struct TokenizerBenchmark: Sendable {
    /// Bytes of UTF-8 text per encode call, and the ids it gives.
    public var bytes: Int, tokens: Int
    /// Seconds of each timed encode call (after one untimed warm-up call).
    public var seconds: [Double]
    /// The median call's speed in MB/s (10⁶ bytes per second).
    public var megabytesPerSecond: Double {
        let sorted = seconds.sorted()
        return Double(bytes) / 1e6 / max(sorted[sorted.count / 2], 1e-9)
    }

    /// Encodes `text` `repeats` times on the calling thread.
    /// - Throws: the tokenizer's errors.
    public static func run(_ tokenizer: any TextTokenizer, text: String, repeats: Int = 5) throws -> TokenizerBenchmark {
        let tokens = try tokenizer.encode(text).count
        var seconds: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let t0 = monotonicSeconds()
            _ = try tokenizer.encode(text)
            seconds.append(monotonicSeconds() - t0)
        }
        return TokenizerBenchmark(bytes: text.utf8.count, tokens: tokens, seconds: seconds)
    }

    /// `bffn bench --tokenize --json` (docs/json.md, "bench (tokenize)"), `tokenizer` naming the tokenizer's kind.
    public func json(tokenizer: String) -> JSONValue {
        .object([("tokenizer", .string(tokenizer)), ("bytes", .integer(bytes)), ("tokens", .integer(tokens)),
                 ("seconds", .array(seconds.map { .double($0) })), ("megabytes_per_second", .double(megabytesPerSecond))])
    }
}
