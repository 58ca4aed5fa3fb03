import BFFN
import BFFNCore
import BFFNEngine
import BFFNKernels
import BFFNSpeculative
import BFFNTokenizer

// include/bffn.h, "Models": bffn_model_open/close, bffn_tokenize, bffn_detokenize, bffn_generate.

let models = HandleRegistry<BlockFFNModel>(kind: "bffn_model")

@_cdecl("bffn_model_open")
public func bffn_model_open(_ path: UnsafePointer<CChar>?, _ optionsJSON: UnsafePointer<CChar>?,
                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    call {
        guard let out else { throw BFFNError(.usage, "out_model is NULL", field: "out_model") }
        out.pointee = nil
        let path = try string(path, "path")
        let given = try options(optionsJSON, "options_json",
                                known: ["threads", "memory_budget", "speculative", "fixed_draft", "activations", "kv_cache", "tokenizer",
                                        "parallel_sequences"])
        var o = BlockFFNModel.Options()
        if let v = given["threads"] { o.threads = try integer(v, "threads", in: 1...256) }
        switch given["memory_budget"] {
        case .none, .null?: break
        case .int(let n)? where n > 0: o.memoryBudgetBytes = UInt64(n)
        case .string(let s)?:
            guard let bytes = TextNumber.parseByteCount(s), bytes > 0 else { throw BFFNError(.usage, "memory_budget takes bytes, e.g. 67108864 or \"64M\", not \"\(s)\"", field: "memory_budget") }
            o.memoryBudgetBytes = bytes
        case let v?: throw BFFNError(.usage, "memory_budget takes a positive integer or a string like \"64M\", not \(v.typeName)", field: "memory_budget")
        }
        if let s = try given["speculative"].map({ try text($0, "speculative") }) { o.speculative = try DrafterChoice.parse(s) }
        if let b = try given["fixed_draft"].map({ try flag($0, "fixed_draft") }) { o.adaptiveDrafting = !b }
        if let s = try given["activations"].map({ try text($0, "activations") }) {
            guard let a = ActivationPrecision(rawValue: s) else { throw BFFNError(.usage, "activations is one of \(ActivationPrecision.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(s)\"", field: "activations") }
            o.activations = a
        }
        if let s = try given["kv_cache"].map({ try text($0, "kv_cache") }) {
            guard let k = KVCachePrecision(rawValue: s) else { throw BFFNError(.usage, "kv_cache is one of \(KVCachePrecision.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(s)\"", field: "kv_cache") }
            o.kvCache = k
        }
        o.tokenizerFile = try given["tokenizer"].map { try text($0, "tokenizer") }
        if let v = given["parallel_sequences"] { o.parallelSequences = try integer(v, "parallel_sequences", in: 1...256) }
        out.pointee = models.open(try BlockFFNModel(path: path, options: o))
    }
}

@_cdecl("bffn_model_close")
public func bffn_model_close(_ model: OpaquePointer?) {
    models.close(model)
}

@_cdecl("bffn_tokenize")
public func bffn_tokenize(_ model: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ addSpecial: Int32,
                          _ outIds: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?, _ outCount: UnsafeMutablePointer<Int>?) -> Int32 {
    call {
        guard let outIds, let outCount else { throw BFFNError(.usage, "out_ids and out_count must not be NULL", field: outIds == nil ? "out_ids" : "out_count") }
        outIds.pointee = nil
        outCount.pointee = 0
        let ids = try models.object(model, "model").tokenize(try string(text, "text"), addSpecialTokens: addSpecial != 0)
        guard !ids.isEmpty else { return }
        guard let buffer = malloc(ids.count * 4)?.assumingMemoryBound(to: Int32.self) else { throw BFFNError(.limitExceeded, "out of memory for \(ids.count) ids") }
        for (i, id) in ids.enumerated() { buffer[i] = Int32(id) }
        outIds.pointee = buffer
        outCount.pointee = ids.count
    }
}

@_cdecl("bffn_detokenize")
public func bffn_detokenize(_ model: OpaquePointer?, _ ids: UnsafePointer<Int32>?, _ count: Int, _ skipSpecial: Int32,
                            _ outText: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    call {
        guard let outText else { throw BFFNError(.usage, "out_text is NULL", field: "out_text") }
        outText.pointee = nil
        guard count == 0 || ids != nil else { throw BFFNError(.usage, "ids is NULL with a count of \(count)", field: "ids") }
        guard count >= 0 && count <= 1 << 28 else { throw BFFNError(.usage, "count \(count) is out of range", field: "count") }
        let list = (0..<count).map { Int(ids![$0]) }
        if let bad = list.first(where: { $0 < 0 }) { throw BFFNError(.outOfBounds, "token id \(bad) is negative", field: "ids") }
        outText.pointee = try handOut(try models.object(model, "model").detokenize(list, skipSpecialTokens: skipSpecial != 0))
    }
}

@_cdecl("bffn_generate")
public func bffn_generate(_ model: OpaquePointer?, _ promptJSON: UnsafePointer<CChar>?, _ settingsJSON: UnsafePointer<CChar>?,
                          _ callback: (@convention(c) (UnsafePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32)?,
                          _ userData: UnsafeMutableRawPointer?, _ outResult: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    call {
        outResult?.pointee = nil
        let model = try models.object(model, "model")
        let prompt = try parsePrompt(try options(promptJSON, "prompt_json", known: ["text", "ids", "messages"]))
        let settings = try parseSettings(try options(settingsJSON, "settings_json",
                                                     known: ["max_new_tokens", "temperature", "top_k", "top_p", "min_p", "seed", "repeat_penalty",
                                                             "repeat_last_n", "stop", "ignore_eos", "logprobs"]))
        let onText: ((String) -> Bool)? = callback.map { callback in
            { piece in
                var bytes = Array(piece.utf8CString)
                return bytes.withUnsafeMutableBufferPointer { callback($0.baseAddress, $0.count - 1, userData) } == 0
            }
        }
        let generation = try model.generate(prompt, settings: settings, onText: onText)
        try handOut(generation.json, to: outResult)
    }
}

/// {"text": ...} | {"ids": [...]} | {"messages": [...]}: exactly one.
func parsePrompt(_ value: JSONValue) throws -> Prompt {
    guard let members = value.objectMembers, members.count == 1 else {
        throw BFFNError(.usage, "give exactly one of \"text\", \"ids\" and \"messages\"", field: "prompt_json")
    }
    switch members[0].key {
    case "text": return .text(try text(members[0].value, "text"))
    case "ids":
        guard let items = members[0].value.arrayElements else { throw BFFNError(.usage, "ids must be a list of integers", field: "ids") }
        return .ids(try items.enumerated().map { try integer($1, "ids[\($0)]", in: 0...Int64(Int32.max)) })
    default:
        return .chat(try ChatMessage.conversation(json: members[0].value.serialized(pretty: false), file: "prompt_json"))
    }
}

/// The members of settings_json over `GenerationSettings`' defaults.
func parseSettings(_ value: JSONValue) throws -> GenerationSettings {
    var s = GenerationSettings()
    func number(_ key: String) throws -> Double? {
        guard let v = value[key] else { return nil }
        guard let d = v.numberValue, d.isFinite else { throw BFFNError(.usage, "\(key) must be a number, not \(v.typeName)", field: key) }
        return d
    }
    func member(_ key: String, _ range: ClosedRange<Int64>) throws -> Int? {
        try value[key].map { try integer($0, key, in: range) }
    }
    if let v = try member("max_new_tokens", 0...1_000_000) { s.maxNewTokens = v }
    if let v = try number("temperature") { s.temperature = v }
    if let v = try member("top_k", 0...1 << 30) { s.topK = v }
    if let v = try number("top_p") { s.topP = v }
    if let v = try number("min_p") { s.minP = v }
    if let v = value["seed"] { s.seed = UInt64(try integer(v, "seed", in: 0...Int64.max)) }
    if let v = try number("repeat_penalty") { s.repeatPenalty = v }
    if let v = try member("repeat_last_n", -1...1 << 30) { s.repeatLastN = v }
    if let v = value["stop"] {
        guard let items = v.arrayElements else { throw BFFNError(.usage, "stop must be a list of strings", field: "stop") }
        s.stop = try items.map { try text($0, "stop") }
    }
    if let v = value["ignore_eos"] { s.ignoreEndOfSequence = try flag(v, "ignore_eos") }
    if let v = try member("logprobs", 0...20) { s.logprobs = v }
    return s
}

/// A JSON string member's text.
func text(_ value: JSONValue, _ key: String) throws -> String {
    guard let s = value.stringValue else { throw BFFNError(.usage, "\(key) must be a string, not \(value.typeName)", field: key) }
    return s
}

/// A JSON boolean member's value.
func flag(_ value: JSONValue, _ key: String) throws -> Bool {
    guard let b = value.boolValue else { throw BFFNError(.usage, "\(key) must be true or false, not \(value.typeName)", field: key) }
    return b
}
