import CBlockFFNJSONC

/// Parsing and printing JSON with json-c, fenced in this one file.
///
/// json-c is lenient in ways that matter for untrusted headers, so the wrapper adds: a depth bound (the
/// tokener's), strict UTF-8 validation (json-c's passes overlong forms and surrogates), rejection of trailing bytes other than whitespace, a check that integers fit
/// in Int64, and duplicate-key detection (json-c silently keeps the last value; we count each object's keys in
/// the raw text and compare with what json-c kept).
extension JSONValue {
    /// The deepest nesting `parse` accepts by default.
    public static let defaultMaxDepth: Int32 = 64

    /// Parses one JSON value that must fill `bytes` (trailing ASCII whitespace allowed).
    /// - Parameters:
    ///   - bytes: the UTF-8 text.
    ///   - file: the file name for errors.
    ///   - baseOffset: the absolute file offset of `bytes[0]`, so errors name file positions.
    ///   - what: what the text is ("safetensors header", "config.json"), for messages.
    /// - Throws: `BFFNError.invalidJSON` with the offset json-c stopped at, or at a key holding `\u0000` (json-c would
    ///   cut it there); `.truncated` when the text ends
    ///   inside a value; `.duplicateName` for a repeated key; `.limitExceeded` for nesting or integers
    ///   beyond bounds.
    public static func parse(_ bytes: UnsafeRawBufferPointer, file: String? = nil, baseOffset: UInt64 = 0,
                             what: String = "JSON", maxDepth: Int32 = defaultMaxDepth) throws -> JSONValue {
        guard bytes.count < Int(Int32.max) else {
            throw BFFNError(.limitExceeded, "\(what) is larger than 2 GiB", file: file, offset: baseOffset)
        }
        if let bad = firstInvalidUTF8(bytes) {
            throw BFFNError(.invalidJSON, "\(what) is not valid UTF-8 (byte \(bad))", file: file, offset: baseOffset + UInt64(bad))
        }
        guard let tokener = json_tokener_new_ex(maxDepth) else {
            throw BFFNError(.io, "json-c could not allocate a tokener", file: file)
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        let emptyText: [CChar] = [0]
        let root: OpaquePointer? = emptyText.withUnsafeBufferPointer { empty in
            json_tokener_parse_ex(tokener, base ?? empty.baseAddress, Int32(bytes.count))
        }
        let end = Int(json_tokener_get_parse_end(tokener))
        guard let root else {
            let status = json_tokener_get_error(tokener)
            if status == json_tokener_continue {
                throw BFFNError(.truncated, "\(what) ends inside a JSON value", file: file,
                                offset: baseOffset + UInt64(bytes.count))
            }
            if status == json_tokener_error_depth {
                throw BFFNError(.limitExceeded, "\(what) nests deeper than \(maxDepth) levels", file: file,
                                offset: baseOffset + UInt64(end))
            }
            let desc = String(cString: json_tokener_error_desc(status))
            throw BFFNError(.invalidJSON, "\(what) is not valid JSON: \(desc)", file: file,
                            offset: baseOffset + UInt64(end))
        }
        defer { json_object_put(root) }
        var i = end
        while i < bytes.count {
            let c = bytes[i]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else {
                throw BFFNError(.invalidJSON, "\(what) has bytes after its JSON value", file: file,
                                offset: baseOffset + UInt64(i))
            }
            i += 1
        }
        var scan = try JSONKeyScan(bytes, file: file, baseOffset: baseOffset, what: what)
        return try convert(root, scan: &scan, path: "")
    }

    /// The offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms, no
    /// surrogates, nothing above U+10FFFF), or nil. json-c's own check only looks at the bytes' shape, so it passed
    /// `ED A0 80` (a surrogate), `C0 AF` (an overlong "/") and `F4 90 80 80` (beyond U+10FFFF), which strings then
    /// read as U+FFFD.
    static func firstInvalidUTF8(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let n = bytes.count
        var i = 0
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int, low: UInt8, high: UInt8
            switch b0 {
            case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
            case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
            case 0xED: (length, low, high) = (3, 0x80, 0x9F)
            case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
            case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
            case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
            default: return i
            }
            guard i + length <= n, (low...high).contains(bytes[i + 1]) else { return i }
            for k in 2..<length where !(0x80...0xBF).contains(bytes[i + k]) { return i }
            i += length
        }
        return nil
    }

    /// Parses a Swift string (convenience for tests and small inputs).
    public static func parse(_ text: String, file: String? = nil, what: String = "JSON") throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0), file: file, what: what) }
    }

    private static func convert(_ obj: OpaquePointer?, scan: inout JSONKeyScan, path: String) throws -> JSONValue {
        guard let obj else { return .null }
        switch json_object_get_type(obj) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(obj) != 0)
        case json_type_double: return .double(json_object_get_double(obj))
        case json_type_int:
            let v = json_object_get_int64(obj)
            if v == Int64.max || v == Int64.min {
                throw BFFNError(.limitExceeded, "integer at \(path.isEmpty ? "top level" : path) does not fit in 64 bits",
                                file: scan.file, field: path.isEmpty ? nil : path)
            }
            return .int(v)
        case json_type_string:
            let len = Int(json_object_get_string_len(obj))
            let ptr = json_object_get_string(obj)!
            return .string(String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self))
        case json_type_array:
            let n = json_object_array_length(obj)
            var out: [JSONValue] = []
            out.reserveCapacity(n)
            for i in 0..<n {
                out.append(try convert(json_object_array_get_idx(obj, i), scan: &scan, path: "\(path)[\(i)]"))
            }
            return .array(out)
        case json_type_object:
            let keptCount = Int(json_object_object_length(obj))
            let objectIndex = scan.nextObject
            scan.nextObject += 1
            if objectIndex < scan.keyCounts.count, scan.keyCounts[objectIndex].count != keptCount {
                let dup = scan.keyCounts[objectIndex].duplicate ?? "(a key spelled with different escapes)"
                throw BFFNError(.duplicateName, "key '\(dup)' appears twice in one object", file: scan.file,
                                field: path.isEmpty ? dup : "\(path).\(dup)",
                                offset: scan.baseOffset + UInt64(scan.keyCounts[objectIndex].offset))
            }
            var members: [JSONMember] = []
            members.reserveCapacity(keptCount)
            var it = json_object_iter_begin(obj)
            var endIt = json_object_iter_end(obj)
            while json_object_iter_equal(&it, &endIt) == 0 {
                let key = String(cString: json_object_iter_peek_name(&it))
                let value = json_object_iter_peek_value(&it)
                members.append(JSONMember(key, try convert(value, scan: &scan, path: path.isEmpty ? key : "\(path).\(key)")))
                json_object_iter_next(&it)
            }
            return .object(members)
        default:
            return .null
        }
    }

    /// Serialises the value with json-c. `pretty` indents by two spaces; otherwise the text is compact.
    /// Non-finite doubles (which JSON cannot hold) are written as null.
    public func serialized(pretty: Bool = true) -> String {
        let obj = makeJSONC()
        defer { json_object_put(obj) }
        let flags = (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN)
            | JSON_C_TO_STRING_NOSLASHESCAPE
        return String(cString: json_object_to_json_string_ext(obj, Int32(flags)))
    }

    private func makeJSONC() -> OpaquePointer? {
        switch self {
        case .null: return nil
        case .bool(let b): return json_object_new_boolean(b ? 1 : 0)
        case .int(let i): return json_object_new_int64(i)
        case .double(let d):
            guard d.isFinite else { return nil }
            let text = d == d.rounded() && abs(d) < 1e15 ? String(format1: d) : "\(d)"
            return json_object_new_double_s(d, text)
        case .string(let s):
            var copy = s
            return copy.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { chars in
                    chars.count == 0 ? json_object_new_string("") : json_object_new_string_len(chars.baseAddress!, Int32(chars.count))
                }
            }
        case .array(let items):
            let arr = json_object_new_array_ext(Int32(items.count))
            for item in items { json_object_array_add(arr, item.makeJSONC()) }
            return arr
        case .object(let members):
            let o = json_object_new_object()
            for m in members { json_object_object_add(o, m.key, m.value.makeJSONC()) }
            return o
        }
    }
}

private extension String {
    /// A whole-valued double written with one decimal ("5.0"), so it reads back as a number, not an integer.
    init(format1 d: Double) { self = "\(Int64(d)).0" }
}

/// The raw-text side of duplicate-key detection: for every object in document order, the number of keys the
/// text holds and the first key spelled twice.
struct JSONKeyScan {
    struct ObjectKeys {
        var count = 0
        var seen = Set<[UInt8]>()
        var duplicate: String?
        var offset = 0
    }

    var keyCounts: [ObjectKeys] = []
    var nextObject = 0
    let file: String?
    let baseOffset: UInt64

    /// Scans text that json-c has already accepted (so it is well-formed JSON).
    init(_ bytes: UnsafeRawBufferPointer, file: String?, baseOffset: UInt64, what: String) throws {
        self.file = file
        self.baseOffset = baseOffset
        // Stack of open containers: the index into keyCounts for objects, -1 for arrays.
        var stack: [Int] = []
        var expectKey = false
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"):
                keyCounts.append(ObjectKeys(offset: i))
                stack.append(keyCounts.count - 1)
                expectKey = true
                i += 1
            case UInt8(ascii: "["):
                stack.append(-1)
                expectKey = false
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                expectKey = false
                i += 1
            case UInt8(ascii: ","):
                expectKey = (stack.last ?? -1) >= 0
                i += 1
            case UInt8(ascii: "\""):
                let start = i + 1
                var j = start
                var escapedNUL = false
                while j < n && bytes[j] != UInt8(ascii: "\"") {
                    if bytes[j] == UInt8(ascii: "\\") {
                        escapedNUL = escapedNUL || (j + 5 < n && bytes[j + 1] == UInt8(ascii: "u") && bytes[j + 2..<j + 6].allSatisfy { $0 == UInt8(ascii: "0") })
                        j += 2
                    } else {
                        j += 1
                    }
                }
                if expectKey, let top = stack.last, top >= 0 {
                    // json-c keeps keys as C strings: "a\u0000b" would be read as "a", so a key naming an unknown field
                    // could read as a known one.
                    if escapedNUL {
                        throw BFFNError(.invalidJSON, "\(what) has a key containing \\u0000, which is not supported", file: file,
                                        offset: baseOffset + UInt64(start - 1))
                    }
                    let key = Array(bytes[start..<min(j, n)])
                    keyCounts[top].count += 1
                    if !keyCounts[top].seen.insert(key).inserted, keyCounts[top].duplicate == nil {
                        keyCounts[top].duplicate = String(decoding: key, as: UTF8.self)
                        keyCounts[top].offset = start - 1
                    }
                    expectKey = false
                }
                i = j + 1
            default:
                i += 1
            }
        }
    }
}
