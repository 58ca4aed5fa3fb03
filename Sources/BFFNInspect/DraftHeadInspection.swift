import BFFNCore
import BFFNKernels
import BFFNModel

/// What `bffn inspect` says about an EAGLE draft head: in its own folder or carried inside a pack.
public struct DraftHeadInspection {
    public let head: EagleHead
    /// The draft vocabulary sizes available: a carried vocabulary's, or the `freq_<N>.pkl` files beside a head;
    /// empty: every token (identity).
    public let vocabularies: [Int]
    /// Whether the head is carried in a pack (its vocabulary fixed) rather than in its own folder.
    public let carried: Bool

    public init(head: EagleHead, vocabularies: [Int], carried: Bool) {
        self.head = head
        self.vocabularies = vocabularies
        self.carried = carried
    }

    /// The `freq_<N>.pkl` sizes in `folder`, ascending.
    public static func frequencyLists(in folder: String) -> [Int] {
        ((try? Directory.names(in: folder)) ?? []).compactMap { name -> Int? in
            guard name.hasPrefix("freq_"), name.hasSuffix(".pkl") else { return nil }
            return Int(name.dropFirst(5).dropLast(4))
        }.sorted()
    }

    /// Bytes of the head's weights and their storage types.
    var bytes: Int { head.namedMatrices.reduce(0) { $0 + $1.matrix.byteCount } }
    var dtypes: [String] { Array(Set(head.namedMatrices.map { $0.matrix.type.label })).sorted() }

    /// The `draft_head` JSON object (docs/json.md, "inspect").
    public var json: JSONValue {
        let c = head.config
        return .object([
            ("kind", "eagle"), ("hidden_size", .integer(c.hiddenSize)), ("num_hidden_layers", .integer(c.layers)),
            ("num_attention_heads", .integer(c.heads)), ("num_key_value_heads", .integer(c.kvHeads)), ("head_dim", .integer(c.headDim)),
            ("intermediate_size", .integer(c.intermediateSize)), ("parameters", .integer(head.parameterCount)), ("bytes", .integer(bytes)),
            ("dtypes", .array(dtypes.map { .string($0) })), ("draft_vocabularies", .array(vocabularies.map { .integer($0) })),
        ])
    }

    /// One summary line.
    public var line: String {
        let c = head.config
        let lists = vocabularies.map { "the \($0) most frequent (--draft-vocab \($0))" }.joined(separator: " or ")
        let vocab = carried ? (vocabularies.first.map { "the \($0) most frequent tokens" } ?? "every token")
            : "every token" + (lists.isEmpty ? "" : ", or " + lists)
        return "draft head  EAGLE: \(c.layers) decoder layer\(c.layers == 1 ? "" : "s"), \(c.heads) heads (\(c.kvHeads) KV) x \(c.headDim), MLP \(c.intermediateSize), "
            + "\(TextNumber.grouped(UInt64(head.parameterCount))) parameters (\(dtypes.joined(separator: ", ")), \(TextNumber.bytesWithSize(UInt64(bytes)))); drafts in \(vocab)"
    }

    /// `bffn inspect --json` for a draft head in its own folder (docs/json.md, "inspect (EAGLE head)"): the
    /// container `format`, the `files` read and the head (`json`).
    public func document(format: String, files: [String]) -> JSONValue {
        .object([("format", .string(format)), ("kind", "eagle_draft_head"), ("files", .array(files.map { .string($0) })), ("draft_head", json)])
    }
}
