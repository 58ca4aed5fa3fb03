import BFFNCore

/// A model's chat template, parsed once, rendered to a prompt exactly as Python's jinja2 renders it when
/// transformers' `apply_chat_template(..., tokenize=False)` calls it: `trim_blocks` and `lstrip_blocks` on,
/// one trailing newline of the source dropped, `loopcontrols` and `{% generation %}`, a sandbox in which lists
/// and dicts cannot change, `tojson` as `json.dumps(ensure_ascii=False)`, and the globals `raise_exception`,
/// `strftime_now`, `range`, `namespace` (docs/chat-templates.md lists the supported subset).
public struct ChatTemplate: Sendable {
    /// Bounds that keep a hostile template from hanging or exhausting memory; past one, rendering throws
    /// `BFFNError.limitExceeded`.
    public struct Limits: Sendable, Equatable {
        /// The largest output, and the largest string or list a template may build, in bytes (items for lists).
        public var maxOutputBytes: Int
        /// Loop iterations over the whole render (each `for` item, and each item a loop filter tests).
        public var maxLoopIterations: Int
        /// Macro calls inside macro calls.
        public var maxCallDepth: Int
        /// Nesting of the template's syntax (blocks, parentheses) and of the values it builds.
        public var maxNesting: Int

        /// Defaults: 8 MiB, 1 000 000 iterations, 64 calls deep, 100 levels.
        public init(maxOutputBytes: Int = 8 << 20, maxLoopIterations: Int = 1_000_000, maxCallDepth: Int = 64, maxNesting: Int = 100) {
            self.maxOutputBytes = maxOutputBytes
            self.maxLoopIterations = maxLoopIterations
            self.maxCallDepth = maxCallDepth
            self.maxNesting = maxNesting
        }
    }

    /// The template's text as given.
    public let source: String
    /// The tokenizer's `bos_token` when the template was loaded from a model folder (nil: none defined).
    public var bosToken: String?
    /// The tokenizer's `eos_token` when the template was loaded from a model folder (nil: none defined).
    public var eosToken: String?
    /// What `strftime_now` formats; nil reads the system clock (UTC) at each call.
    public var now: CivilTime?
    /// The resource bounds of `render`.
    public var limits: Limits
    private let nodes: [TemplateNode]

    /// Parses `source`.
    /// - Throws: `BFFNError.templateSyntax` whose reason starts with "line L, column C:" (offset: the code point
    ///   where the problem starts); `.limitExceeded` when the template nests deeper than `limits.maxNesting`.
    public init(source: String, bosToken: String? = nil, eosToken: String? = nil, limits: Limits = Limits()) throws {
        self.source = source
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.limits = limits
        var parser = try TemplateParser(source: source, maxDepth: limits.maxNesting)
        nodes = try parser.parseTemplate()
    }

    /// Renders the conversation with the context transformers passes: `messages`, `tools` (None when nil),
    /// `documents` (None), `add_generation_prompt`, `bos_token` and `eos_token` (undefined when nil), then
    /// `extra` (e.g. `enable_thinking`, `date_string`).
    /// - Returns: the prompt text.
    /// - Throws: `BFFNError.templateRaised` with exactly the message the template passed to `raise_exception`;
    ///   `.templateError` for a failed operation (its field names the line and column of the statement);
    ///   `.limitExceeded` past `limits`; `.usage` when `extra` names one of the variables above.
    public func render(messages: [JSONValue], addGenerationPrompt: Bool, tools: [JSONValue]? = nil,
                       bosToken: String?, eosToken: String?, extra: [String: JSONValue] = [:]) throws -> String {
        let reserved: Set<String> = ["messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token"]
        if let clash = extra.keys.sorted().first(where: reserved.contains) {
            throw BFFNError(.usage, "the extra template variable '\(clash)' is set by render itself")
        }
        let renderer = TemplateRenderer(limits: limits, date: now)
        let context = TemplateScope(parent: renderer.globalScope())
        for (k, v) in extra { context.variables[k] = TemplateValue(v) }
        context.variables["messages"] = .list(messages.map(TemplateValue.init))
        context.variables["tools"] = tools.map { .list($0.map(TemplateValue.init)) } ?? TemplateValue.none
        context.variables["documents"] = TemplateValue.none
        context.variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        if let bosToken { context.variables["bos_token"] = .string(bosToken) }
        if let eosToken { context.variables["eos_token"] = .string(eosToken) }
        return try renderer.render(nodes, scope: context)
    }

    /// The chat template of the model in `modelDirectory`, found as transformers finds it: the file
    /// `chat_template.jinja`, else `tokenizer_config.json`'s `chat_template` (a string, or a list of
    /// `{name, template}` of which "default" is taken); `bos_token` / `eos_token` from tokenizer_config.json
    /// (a string or an object with `content`).
    /// - Returns: nil when the folder has neither.
    /// - Throws: `.io` for unreadable files, `.invalidJSON` / `.invalidConfig` for a tokenizer_config.json of the
    ///   wrong shape, and what `init(source:)` throws.
    public static func load(modelDirectory: String) throws -> ChatTemplate? {
        let names = try Directory.names(in: modelDirectory)
        func read(_ name: String) throws -> String? {
            guard names.contains(name) else { return nil }
            let file = try MappedFile(path: modelDirectory + "/" + name)
            return file.withBytes { String(decoding: $0, as: UTF8.self) }
        }
        return try load(tokenizerConfig: read("tokenizer_config.json"), templateFile: read("chat_template.jinja"),
                        configPath: modelDirectory + "/tokenizer_config.json")
    }

    /// The chat template given the texts of a model's `tokenizer_config.json` and `chat_template.jinja` (either
    /// may be nil), as `load(modelDirectory:)` finds it; `configPath` names the config in errors (a pack's
    /// carried file: `PACK:tokenizer_config.json`).
    /// - Returns: nil when there is no template.
    /// - Throws: `.invalidJSON` / `.invalidConfig` for a tokenizer_config.json of the wrong shape, and what
    ///   `init(source:)` throws.
    public static func load(tokenizerConfig configText: String?, templateFile: String?, configPath: String) throws -> ChatTemplate? {
        let config = try configText.map { try JSONValue.parse($0, file: configPath, what: "tokenizer_config.json") }
        func token(_ key: String) throws -> String? {
            switch config?[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            case let v?:
                if case .string(let s)? = v["content"] { return s }
                throw BFFNError(.invalidConfig, "\(key) is neither a string nor an object with 'content'", file: configPath, field: key)
            }
        }
        var source: String? = templateFile
        if source == nil {
            switch config?["chat_template"] {
            case nil, .null?: source = nil
            case .string(let s)?: source = s
            case .array(let list)?:
                for entry in list {
                    guard case .string(let name)? = entry["name"], case .string(let text)? = entry["template"] else {
                        throw BFFNError(.invalidConfig, "chat_template entries must have a string name and template", file: configPath, field: "chat_template")
                    }
                    if name == "default" { source = text }
                }
                if source == nil {
                    throw BFFNError(.invalidConfig, "chat_template lists named templates but none named 'default'", file: configPath, field: "chat_template")
                }
            case let v?:
                throw BFFNError(.invalidConfig, "chat_template is a \(v.typeName), not a string or a list", file: configPath, field: "chat_template")
            }
        }
        guard let source else { return nil }
        return try ChatTemplate(source: source, bosToken: try token("bos_token"), eosToken: try token("eos_token"))
    }
}

extension BFFNError {
    /// A template syntax error: the reason starts with the line and column, the offset is the code point.
    static func templateSyntax(_ message: String, at position: TemplatePosition, offset: Int? = nil) -> BFFNError {
        BFFNError(.templateSyntax, "\(position): \(message)", offset: offset.map { UInt64($0) })
    }
}
