import BFFNCore

extension TokenizerBundle {
    /// A warning when the tokenizer's ids do not fit the model's embedding rows (`vocabularySize` of the model),
    /// or nil. A tokenizer smaller than the embedding is normal (padded vocabularies); a larger one can produce
    /// ids the model cannot embed.
    public func vocabularyWarning(embeddingRows: Int?) -> String? {
        guard let rows = embeddingRows, tokenizer.vocabularySize != rows else { return nil }
        return tokenizer.vocabularySize > rows
            ? "the tokenizer has \(tokenizer.vocabularySize) ids but the model only \(rows) embedding rows: ids \(rows) and above cannot be run"
            : "the tokenizer has \(tokenizer.vocabularySize) ids, the model \(rows) embedding rows (the rest are padding)"
    }

    /// Kind, vocabulary size, special tokens and source, for `inspect --json` (key `tokenizer`).
    public func summaryJSON(embeddingRows: Int?) -> JSONValue {
        func token(_ id: Int?) -> JSONValue {
            guard let id else { return .null }
            return .object([("id", .integer(id)), ("token", tokenizer.token(of: id).map { .string($0) } ?? .null)])
        }
        return .object([
            ("kind", .string(tokenizer.kind)), ("source", .string(source)), ("vocabulary_size", .integer(tokenizer.vocabularySize)),
            ("bos", token(bosId)), ("eos", .array(eosIds.map { token($0) })), ("pad", token(padId)), ("unk", token(unknownId)),
            ("add_bos", .bool(addBos)), ("add_eos", .bool(addEos)),
            ("config_files", .array(configFiles.map { .string($0) })),
            ("warning", vocabularyWarning(embeddingRows: embeddingRows).map { .string($0) } ?? .null),
        ])
    }

    /// One line for `inspect`'s text report.
    public func summaryLine() -> String {
        func name(_ id: Int) -> String { "\(tokenizer.token(of: id) ?? "?")=\(id)" }
        var parts = ["\(tokenizer.kind), \(tokenizer.vocabularySize) ids"]
        if let b = bosId { parts.append("bos \(name(b))\(addBos ? " (added)" : "")") }
        if !eosIds.isEmpty { parts.append("eos " + eosIds.map(name).joined(separator: " ")) }
        if let u = unknownId { parts.append("unk \(name(u))") }
        return parts.joined(separator: ", ")
    }
}
