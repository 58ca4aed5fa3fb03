import BFFNCore
import BFFNTorchZip

/// The reduced vocabulary an EAGLE head drafts in (FR-Spec): draft index k stands for target token `ids[k]`.
/// The published heads use either every token (identity) or the V most frequent ones, read from a pickled
/// Python list `freq_V.pkl` beside the head (docs/model.md, "EAGLE draft heads").
public struct DraftVocabulary: Sendable, Equatable {
    /// Target token id of each draft index; nil: the identity over `count` ids.
    public let ids: [Int]?
    /// V_draft.
    public let count: Int

    /// Every token of a vocabulary of `size` (draft index = token id).
    public static func identity(_ size: Int) -> DraftVocabulary { DraftVocabulary(ids: nil, count: size) }

    /// The first `size` ids of `ids`.
    /// - Throws: `.outOfBounds` for an id outside 0 ..< `targetVocabulary`, `.malformed` for a repeated id or
    ///   fewer than `size` ids (`file` and `field` name where they came from).
    public init(ids list: [Int], size: Int, targetVocabulary: Int, file: String? = nil) throws {
        guard size >= 1 && list.count >= size else {
            throw BFFNError(.malformed, "the draft vocabulary needs \(size) ids, the list holds \(list.count)", file: file, field: "draft vocabulary")
        }
        var seen = Set<Int>()
        for (k, id) in list.prefix(size).enumerated() {
            guard id >= 0 && id < targetVocabulary else {
                throw BFFNError(.outOfBounds, "draft index \(k) names token \(id), outside the target's vocabulary of \(targetVocabulary)",
                                file: file, field: "draft vocabulary")
            }
            guard seen.insert(id).inserted else {
                throw BFFNError(.malformed, "token \(id) appears twice (draft index \(k))", file: file, field: "draft vocabulary")
            }
        }
        ids = Array(list.prefix(size))
        count = size
    }

    private init(ids: [Int]?, count: Int) {
        self.ids = ids
        self.count = count
    }

    /// The target token of draft index `k`.
    @inlinable public func token(_ k: Int) -> Int { ids?[k] ?? k }

    /// Reads `path`, a pickle of a list of ints (what `pickle.dump(list)` writes), through the restricted pickle
    /// machine (nothing is imported or called), and keeps the first `size` ids.
    /// - Throws: the pickle machine's errors (naming the byte offset); `.malformed` when the pickle is not a
    ///   list of ints; the checks of `init(ids:size:targetVocabulary:file:)`; `.io` when the file cannot be read.
    public static func load(pickle path: String, size: Int, targetVocabulary: Int) throws -> DraftVocabulary {
        let file = try MappedFile(path: path)
        let value = try file.withBytes { bytes -> PickleValue in
            var machine = PickleMachine(bytes, file: path)
            return try machine.run()
        }
        guard case .list(let list) = value else {
            throw BFFNError(.malformed, "expected a pickled list of token ids", file: path, field: "draft vocabulary")
        }
        var ids: [Int] = []
        ids.reserveCapacity(min(list.items.count, size))
        for (k, item) in list.items.prefix(size).enumerated() {
            guard case .int(let v) = item, let id = Int(exactly: v) else {
                throw BFFNError(.malformed, "item \(k) of the list is not an int", file: path, field: "draft vocabulary")
            }
            ids.append(id)
        }
        return try DraftVocabulary(ids: ids, size: size, targetVocabulary: targetVocabulary, file: path)
    }
}
