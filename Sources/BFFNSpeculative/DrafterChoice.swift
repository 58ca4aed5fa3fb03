import BFFNCheckpoint
import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNModel
import BFFNPack

/// Which drafter speculative decoding uses (`bffn generate`, `verify`, `bench --speculative`; `VerifyOptions.drafter`),
/// and how it is built.
public enum DrafterChoice: Sendable, Equatable, CustomStringConvertible {
    /// No speculative decoding.
    case none
    /// Prompt lookup (`NGramDrafter`).
    case ngram
    /// A draft model at a path (checkpoint or .bfpk).
    case model(String)
    /// An EAGLE head: a head folder or a pack carrying one at `path`, or (nil) the head the target pack carries;
    /// `vocabulary` the reduced draft vocabulary size read from the folder's `freq_<N>.pkl` (nil: the identity, or
    /// the carried vocabulary).
    case eagle(path: String?, vocabulary: Int?)

    /// Parses "none", "ngram", "draft:PATH", "eagle" or "eagle:PATH".
    /// - Throws: `.usage` for anything else.
    public static func parse(_ text: String) throws -> DrafterChoice {
        if text == "none" { return .none }
        if text == "ngram" { return .ngram }
        if text == "eagle" { return .eagle(path: nil, vocabulary: nil) }
        if text.hasPrefix("eagle:"), text.count > 6 { return .eagle(path: String(text.dropFirst(6)), vocabulary: nil) }
        if text.hasPrefix("draft:"), text.count > 6 { return .model(String(text.dropFirst(6))) }
        throw BFFNError(.usage, "a drafter is ngram, draft:PATH, eagle, eagle:PATH or none, not '\(text)'", field: "speculative")
    }

    /// Builds the drafter for the target `target` opened from `targetPath` (nil for `.none`). A draft model's engine
    /// runs with `threads` threads and `activations` (as the target's: `.auto` gives a q4 draft model its integer
    /// products; float32 activations on q4 weights would make every draft several times dearer than it need be).
    /// - Throws: the draft model's or head's loading errors; `.invalidConfig` for another vocabulary;
    ///   `.shapeMismatch` for a head of another hidden size; `.usage` for `eagle` when the target carries no head.
    public func makeDrafter(target: ModelWeights, targetPath: String?, threads: Int, activations: ActivationPrecision = .auto) throws -> Drafter? {
        switch self {
        case .none: return nil
        case .ngram: return NGramDrafter()
        case .model(let path):
            var options = EngineOptions(threads: threads)
            options.activations = activations
            let engine = try Engine(weights: ModelWeights.open(path: path), options: options)
            let drafter = try ModelDrafter(engine: engine, vocabularySize: target.architecture.vocabSize, name: description)
            let bytes = { (w: ModelWeights) in Double(w.allMatrices.reduce(0) { $0 + $1.matrix.byteCount }) }
            drafter.relativeCost = bytes(engine.weights) / max(bytes(target), 1)
            return drafter
        case .eagle(let path, let size):
            let V = target.architecture.vocabSize
            let source = path ?? targetPath
            if let source, PackFile.isPack(path: source) {
                guard let (head, carried) = try PackFile(path: source).eagleHead() else {
                    throw BFFNError(.usage, "\(source) carries no EAGLE head (convert or pack it with --draft HEAD, or name one: eagle:PATH)",
                                    file: source, field: "speculative")
                }
                guard size == nil || size == carried.count else {
                    throw BFFNError(.usage, "the carried head drafts in \(carried.count) ids; --draft-vocab cannot change that", file: source, field: "draft-vocab")
                }
                return try EagleDrafter(head: head, vocabulary: carried, target: target, threads: threads, name: description)
            }
            guard let path else {
                throw BFFNError(.usage, "the model is not a pack carrying an EAGLE head: name one with eagle:PATH", field: "speculative")
            }
            let head = try EagleHead(checkpoint: Checkpoint(path: path))
            try head.check(targetHiddenSize: target.architecture.hiddenSize, file: path)
            let vocabulary = try size.map { try DraftVocabulary.load(pickle: path + "/freq_\($0).pkl", size: $0, targetVocabulary: V) } ?? .identity(V)
            return try EagleDrafter(head: head, vocabulary: vocabulary, target: target, threads: threads, name: description)
        }
    }

    /// This choice with a reduced draft vocabulary of `size` ids (EAGLE only; others unchanged).
    public func withDraftVocabulary(_ size: Int?) -> DrafterChoice {
        if case .eagle(let path, _) = self, let size { return .eagle(path: path, vocabulary: size) }
        return self
    }

    /// The choice as `parse` reads it ("ngram", "draft:PATH", "eagle:PATH"), with a reduced vocabulary noted.
    public var description: String {
        switch self {
        case .none: return "none"
        case .ngram: return "ngram"
        case .model(let p): return "draft:\(p)"
        case .eagle(let p, let v): return (p.map { "eagle:\($0)" } ?? "eagle") + (v.map { " (vocabulary \($0))" } ?? "")
        }
    }
}
