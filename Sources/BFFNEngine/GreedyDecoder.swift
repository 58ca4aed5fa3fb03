import BFFNCore

#if canImport(Glibc)
import Glibc
#endif

/// The result of greedy decoding.
public struct GenerationResult: Sendable {
    /// The prompt.
    public var promptIds: [Int]
    /// The generated ids (argmax at each step, ties to the lowest id).
    public var generatedIds: [Int]
    /// Seconds spent on the prompt (one forward call).
    public var prefillSeconds: Double
    /// Seconds spent generating after the prompt.
    public var decodeSeconds: Double
    /// Generated tokens per second of decode time.
    public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(max(generatedIds.count - 1, 0)) / decodeSeconds : 0 }
    /// Fraction of expert weights read per decoded token (union size / E, averaged over layers and steps);
    /// 1 for dense FFNs.
    public var expertsReadFraction: Double
}

/// Plain greedy decoding on an engine.
public enum GreedyDecoder {
    /// Decodes `maxNewTokens` tokens after `prompt`, stopping early at any id in `stopIds`.
    /// The engine's cache is reset first.
    /// - Throws: `.usage` for an empty prompt, or the engine's errors (a token id outside the vocabulary).
    public static func generate(_ engine: Engine, prompt: [Int], maxNewTokens: Int, stopIds: Set<Int> = []) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw BFFNError(.usage, "the prompt needs at least one token id") }
        engine.reset()
        let E = engine.weights.architecture.numExperts
        let t0 = monotonicSeconds()
        var out = try engine.forward(prompt, logits: .last)
        let t1 = monotonicSeconds()
        var ids: [Int] = []
        var next = out.argmax(at: prompt.count - 1)
        var expertSum = 0.0, steps = 0
        while ids.count < maxNewTokens {
            ids.append(next)
            if stopIds.contains(next) || ids.count == maxNewTokens { break }
            out = try engine.forward([next])
            if E > 0 {
                expertSum += Double(out.expertsComputed.reduce(0, +)) / Double(E * max(out.expertsComputed.count, 1))
                steps += 1
            }
            next = out.argmax(at: 0)
        }
        let t2 = monotonicSeconds()
        return GenerationResult(promptIds: prompt, generatedIds: ids, prefillSeconds: t1 - t0, decodeSeconds: t2 - t1,
                                expertsReadFraction: E == 0 ? 1 : (steps > 0 ? expertSum / Double(steps) : 0))
    }
}
