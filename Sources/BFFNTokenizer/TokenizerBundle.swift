import BFFNCore

/// A model's tokenizer with what its configuration files say about special tokens: which ids begin and end a
/// sequence, whether encoding adds them, and which ids stop generation (formats/tokenizer.md, "Special tokens").
public struct TokenizerBundle: Sendable {
    /// The tokenizer itself.
    public let tokenizer: any TextTokenizer
    /// The file the tokenizer was read from (a path, or "PACK:NAME").
    public let source: String
    /// The beginning-of-sequence id, if any.
    public var bosId: Int?
    /// Every id that ends generation (generation_config.json's `eos_token_id`, a number or a list; config.json's;
    /// the tokenizer config's `eos_token`), sorted, without duplicates.
    public var eosIds: [Int]
    /// The padding and unknown ids, if any.
    public var padId: Int?, unknownId: Int?
    /// Whether `encode(_:addSpecial: true)` adds bos / eos (tokenizer_config.json's `add_bos_token`,
    /// `add_eos_token`).
    public var addBos: Bool, addEos: Bool
    /// The configuration files that were read.
    public var configFiles: [String]

    /// Reads the tokenizer and its configuration from `files`. `preferred` ("tokenizer.json" or
    /// "tokenizer.model") chooses when both are present; otherwise tokenizer.json wins, as the Hugging Face
    /// library's fast tokenizer does.
    /// - Throws: `.io` when there is no tokenizer; the tokenizer's and the JSON reader's errors;
    ///   `.invalidJSON` naming a special token that is not in the vocabulary or an id outside it.
    public init(files: TokenizerFiles, preferred: String? = nil) throws {
        let choice = preferred ?? (files.files["tokenizer.json"] != nil ? "tokenizer.json" : "tokenizer.model")
        guard let bytes = files.files[choice], let origin = files.origins[choice] else {
            throw BFFNError(.io, "no \(preferred ?? "tokenizer.json or tokenizer.model")", file: files.origins.values.sorted().first)
        }
        let tokenizer: any TextTokenizer = try bytes.withUnsafeBytes { b -> any TextTokenizer in
            if choice == "tokenizer.json" { return try HuggingFaceTokenizer(bytes: b, path: origin) }
            return try SentencePieceTokenizer(bytes: b, path: origin)
        }
        try self.init(tokenizer: tokenizer, source: origin, files: files)
    }

    /// A tokenizer read elsewhere (`--tokenizer FILE`) with the configuration of `files`.
    /// - Throws: as `init(files:preferred:)`.
    public init(tokenizer: any TextTokenizer, source: String, files: TokenizerFiles) throws {
        self.tokenizer = tokenizer
        self.source = source
        let V = tokenizer.vocabularySize
        var configs: [String] = []
        func json(_ name: String) throws -> JSONValue? {
            guard let b = files.files[name], let origin = files.origins[name] else { return nil }
            configs.append(origin)
            return try b.withUnsafeBytes { try JSONValue.parse($0, file: origin, what: name) }
        }
        let tokenizerConfig = try json("tokenizer_config.json")
        let specialMap = try json("special_tokens_map.json")
        let generation = try json("generation_config.json")
        configFiles = configs
        let sentencePiece = tokenizer as? SentencePieceTokenizer

        /// A special token named in the tokenizer config or the special tokens map (a string or {"content": ...}).
        func named(_ key: String) throws -> Int? {
            for (config, name) in [(tokenizerConfig, "tokenizer_config.json"), (specialMap, "special_tokens_map.json")] {
                guard let v = config?[key], v != .null else { continue }
                guard let text = v.stringValue ?? v["content"]?.stringValue else {
                    throw BFFNError(.invalidJSON, "\(key) must be a string or an object with a content string", file: files.origins[name], field: key)
                }
                guard let id = tokenizer.id(of: text) else {
                    throw BFFNError(.invalidJSON, "\(key) '\(text)' is not a token of the vocabulary", file: files.origins[name], field: key)
                }
                return id
            }
            return nil
        }
        /// Ids under `key` in generation_config.json and config.json (a number or a list of numbers).
        func ids(_ key: String) throws -> [Int] {
            var out: [Int] = []
            for (config, name) in [(generation, "generation_config.json"), (files.modelConfig, "config.json")] {
                guard let v = config?[key], v != .null else { continue }
                for item in v.arrayElements ?? [v] {
                    guard let id = item.intValue, id >= 0, id < V else {
                        throw BFFNError(.invalidJSON, "\(key) must be token ids below the vocabulary size \(V)", file: files.origins[name] ?? name, field: key)
                    }
                    out.append(Int(id))
                }
            }
            return out
        }
        bosId = try named("bos_token") ?? ids("bos_token_id").first ?? sentencePiece?.bosId
        var eos = try ids("eos_token_id")
        if let e = try named("eos_token") { eos.append(e) }
        if eos.isEmpty, let e = sentencePiece?.eosId { eos.append(e) }
        eosIds = Array(Set(eos)).sorted()
        padId = try named("pad_token") ?? ids("pad_token_id").first ?? sentencePiece?.padId
        unknownId = try named("unk_token") ?? sentencePiece?.unknownId
        let className = tokenizerConfig?["tokenizer_class"]?.stringValue ?? ""
        addBos = tokenizerConfig?["add_bos_token"]?.boolValue ?? className.hasPrefix("Llama")
        addEos = tokenizerConfig?["add_eos_token"]?.boolValue ?? false
    }

    /// The ids of `text`; with `addSpecial`, bos first and eos last as `addBos` / `addEos` say.
    /// - Throws: the tokenizer's errors.
    public func encode(_ text: String, addSpecial: Bool = false) throws -> [Int] {
        var ids = try tokenizer.encode(text)
        if addSpecial {
            if addBos, let b = bosId { ids.insert(b, at: 0) }
            if addEos, let e = eosIds.first { ids.append(e) }
        }
        return ids
    }

    /// The text of `ids` (special tokens included, as the libraries' `skip_special_tokens=False`).
    /// - Throws: `.outOfBounds` for an id outside the vocabulary.
    public func decode(_ ids: [Int]) throws -> String { try tokenizer.decode(ids) }
}
