import BFFNCore

/// Reads the pipeline components of a `tokenizer.json` (normaliser, pre-tokeniser, decoder), naming the field of
/// anything unsupported or malformed.
struct TokenizerJSONReader {
    let path: String

    func fail(_ field: String, _ why: String) -> BFFNError { BFFNError(.invalidJSON, why, file: path, field: field) }

    func unsupported(_ field: String, _ what: String) -> BFFNError {
        BFFNError(.unsupported, "\(what) is not supported (formats/tokenizer.md lists what is read)", file: path, field: field)
    }

    /// A string pattern (`{"String": ...}`); a regex pattern is unsupported.
    private func pattern(_ n: JSONValue, _ field: String) throws -> [UInt8] {
        guard let p = n["pattern"]?["String"]?.stringValue, !p.isEmpty else {
            throw unsupported(field + ".pattern", "a Replace without a plain string pattern (a regex)")
        }
        return Array(p.utf8)
    }

    func normalizers(_ json: JSONValue?) throws -> [HuggingFaceTokenizer.Normalizer] {
        var out: [HuggingFaceTokenizer.Normalizer] = []
        func visit(_ n: JSONValue, _ field: String) throws {
            switch n["type"]?.stringValue {
            case "Sequence"?:
                for (i, inner) in (n["normalizers"]?.arrayElements ?? []).enumerated() { try visit(inner, field + ".normalizers[\(i)]") }
            case "Prepend"?:
                guard let p = n["prepend"]?.stringValue else { throw fail(field + ".prepend", "Prepend needs a string") }
                out.append(.prepend(Array(p.utf8)))
            case "Replace"?:
                guard let content = n["content"]?.stringValue else { throw fail(field + ".content", "Replace needs a content string") }
                out.append(.replace(try pattern(n, field), Array(content.utf8)))
            case let other:
                throw unsupported(field + ".type", "the \(other ?? "untyped") normalizer")
            }
        }
        if let json, json != .null { try visit(json, "normalizer") }
        return out
    }

    func preTokenizer(_ json: JSONValue?) throws -> HuggingFaceTokenizer.PreTokenizer {
        guard var p = json, p != .null else { return .none }
        var field = "pre_tokenizer"
        // A Sequence of exactly one component is that component.
        if p["type"]?.stringValue == "Sequence" {
            let inner = p["pretokenizers"]?.arrayElements ?? []
            guard inner.count == 1 else { throw unsupported(field + ".pretokenizers", "a Sequence of \(inner.count) pre-tokenizers") }
            p = inner[0]
            field += ".pretokenizers[0]"
        }
        switch p["type"]?.stringValue {
        case "Metaspace"?:
            let scheme = p["prepend_scheme"]?.stringValue ?? ((p["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
            guard ["always", "first", "never"].contains(scheme) else { throw unsupported(field + ".prepend_scheme", "prepend_scheme \(scheme)") }
            let replacement = p["replacement"]?.stringValue ?? "▁"
            guard replacement.unicodeScalars.count == 1 else { throw fail(field + ".replacement", "the replacement is one character") }
            return .metaspace(replacement: Array(replacement.utf8), prependScheme: scheme, split: p["split"]?.boolValue ?? true)
        case "ByteLevel"?:
            return .byteLevel(addPrefixSpace: p["add_prefix_space"]?.boolValue ?? true, useRegex: p["use_regex"]?.boolValue ?? true)
        case let other:
            throw unsupported(field + ".type", "the \(other ?? "untyped") pre-tokenizer")
        }
    }

    func decoders(_ json: JSONValue?) throws -> [HuggingFaceTokenizer.DecoderStep] {
        var out: [HuggingFaceTokenizer.DecoderStep] = []
        func visit(_ d: JSONValue, _ field: String) throws {
            switch d["type"]?.stringValue {
            case "Sequence"?:
                for (i, inner) in (d["decoders"]?.arrayElements ?? []).enumerated() { try visit(inner, field + ".decoders[\(i)]") }
            case "Replace"?:
                guard let content = d["content"]?.stringValue else { throw fail(field + ".content", "Replace needs a content string") }
                out.append(.replace(try pattern(d, field), Array(content.utf8)))
            case "ByteFallback"?:
                out.append(.byteFallback)
            case "Fuse"?:
                out.append(.fuse)
            case "Strip"?:
                guard let content = d["content"]?.stringValue, content.unicodeScalars.count == 1,
                      let start = d["start"]?.intValue, let stop = d["stop"]?.intValue, (0...1 << 20).contains(start), (0...1 << 20).contains(stop) else {
                    throw fail(field, "Strip needs a one-character content and start/stop counts")
                }
                out.append(.strip(content: Array(content.utf8), start: Int(start), stop: Int(stop)))
            case "Metaspace"?:
                let scheme = d["prepend_scheme"]?.stringValue ?? ((d["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
                let replacement = d["replacement"]?.stringValue ?? "▁"
                out.append(.metaspace(replacement: Array(replacement.utf8), dropInFirstToken: scheme != "never"))
            case "ByteLevel"?:
                out.append(.byteLevel)
            case let other:
                throw unsupported(field + ".type", "the \(other ?? "untyped") decoder")
            }
        }
        if let json, json != .null { try visit(json, "decoder") }
        return out
    }
}
