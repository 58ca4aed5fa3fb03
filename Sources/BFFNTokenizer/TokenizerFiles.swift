import BFFNCore

/// The tokenizer files a model ships beside its weights (or carries inside a pack), by name, with their bytes.
public struct TokenizerFiles: Sendable {
    /// The files bffn reads, in the order a pack carries them.
    public static let names = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja"]
    /// The largest tokenizer file accepted, in bytes (a 150 000-piece tokenizer.json is about 10 MB).
    public static let maxFileBytes = 256 << 20

    /// File name → bytes.
    public var files: [String: [UInt8]]
    /// File name → where it came from (a path, or "PACK:NAME"), for messages and errors.
    public var origins: [String: String]
    /// The model's config.json, when known (it may name bos/eos ids).
    public var modelConfig: JSONValue?

    /// No files.
    public init() {
        files = [:]
        origins = [:]
    }

    /// Whether a tokenizer (tokenizer.json or tokenizer.model) is present.
    public var hasTokenizer: Bool { files["tokenizer.json"] != nil || files["tokenizer.model"] != nil }

    /// Adds a file's bytes under `name`; `origin` names it in errors.
    /// - Throws: `.limitExceeded` past `maxFileBytes`.
    public mutating func add(_ name: String, bytes: [UInt8], origin: String) throws {
        guard bytes.count <= Self.maxFileBytes else {
            throw BFFNError(.limitExceeded, "a tokenizer file larger than \(Self.maxFileBytes) bytes", file: origin)
        }
        files[name] = bytes
        origins[name] = origin
    }

    /// The known files present in `folder` (and its config.json).
    /// - Throws: the files' read errors; `.limitExceeded` for an implausibly large one.
    public init(folder: String) throws {
        self.init()
        for name in Self.names + ["config.json"] {
            let path = folder + "/" + name
            guard access(path, R_OK) == 0 else { continue }
            let file = try MappedFile(path: path)
            guard file.size <= Self.maxFileBytes else { throw BFFNError(.limitExceeded, "a tokenizer file larger than \(Self.maxFileBytes) bytes", file: path) }
            if name == "config.json" {
                modelConfig = try? file.withBytes { try JSONValue.parse($0, file: path, what: "config.json") }
            } else {
                try add(name, bytes: file.contents, origin: path)
            }
        }
    }

    /// The paths of the known files in `folder` that exist (what `convert` carries into a pack).
    public static func paths(in folder: String) -> [String] {
        names.map { folder + "/" + $0 }.filter { access($0, R_OK) == 0 }
    }
}
