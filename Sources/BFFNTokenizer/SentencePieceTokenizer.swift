import BFFNCore
import CBlockFFNSentencePiece

/// A SentencePiece `tokenizer.model` (BPE or unigram), encoded and decoded by Debian's libsentencepiece through a
/// small C shim: the same implementation the Python `sentencepiece` package wraps.
public struct SentencePieceTokenizer: TextTokenizer {
    private let handle: Handle
    /// Piece strings by id.
    private let pieces: [String]
    private let pieceIds: [String: Int]
    /// The model's algorithm as its trainer spec records it: "BPE", "unigram", "word" or "char".
    public let algorithm: String
    /// The ids the model declares for unk, bos, eos and pad (nil where it has none).
    public let unknownId: Int?, bosId: Int?, eosId: Int?, padId: Int?

    public var kind: String { "tokenizer.model (SentencePiece \(algorithm))" }
    public var vocabularySize: Int { pieces.count }

    /// The library's processor; its const methods (encode, decode, lookups) are safe to call from many threads.
    private final class Handle: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ p: OpaquePointer) { pointer = p }
        deinit { bffn_sp_free(pointer) }
    }

    /// Reads `tokenizer.model` at `path`.
    /// - Throws: the file's open errors; `.malformed` with the library's reason when it is not a model.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        self = try file.withBytes { try SentencePieceTokenizer(bytes: $0, path: path) }
    }

    /// Reads a model held in memory (a pack's attachment); `path` names it in errors.
    /// - Throws: `.malformed` with the library's reason when the bytes are not a SentencePiece model.
    public init(bytes: UnsafeRawBufferPointer, path: String) throws {
        var message = [CChar](repeating: 0, count: 512)
        guard let base = bytes.baseAddress, bytes.count > 0,
              let p = bffn_sp_load(base, bytes.count, &message, message.count) else {
            let reason = bytes.isEmpty ? "the file is empty" : String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw BFFNError(.malformed, "not a SentencePiece model: \(reason)", file: path)
        }
        handle = Handle(p)
        let n = Int(bffn_sp_piece_count(p))
        var buffer = [CChar](repeating: 0, count: 256)
        var pieces: [String] = []
        pieces.reserveCapacity(n)
        for id in 0..<n {
            var length = bffn_sp_piece(p, Int32(id), &buffer, buffer.count)
            if length > buffer.count {
                buffer = [CChar](repeating: 0, count: length)
                length = bffn_sp_piece(p, Int32(id), &buffer, buffer.count)
            }
            pieces.append(String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.pieces = pieces
        pieceIds = Dictionary(pieces.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        func special(_ which: Int32) -> Int? {
            let id = Int(bffn_sp_special_id(p, which))
            return id >= 0 && id < n ? id : nil
        }
        (unknownId, bosId, eosId, padId) = (special(0), special(1), special(2), special(3))
        algorithm = SentencePieceModelType.read(bytes) ?? "unknown"
    }

    public func encode(_ text: String) throws -> [Int] {
        var text = text
        return try text.withUTF8 { utf8 in
            var ids: UnsafeMutablePointer<Int32>? = nil
            var count = 0
            var message = [CChar](repeating: 0, count: 512)
            let empty: [CChar] = [0]
            let status = empty.withUnsafeBufferPointer { e in
                let base = utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? e.baseAddress!
                return bffn_sp_encode(handle.pointer, base, utf8.count, &ids, &count, &message, message.count)
            }
            guard status == 0, let ids else {
                throw BFFNError(.malformed, "SentencePiece could not encode the text: \(String(cString: message))")
            }
            defer { bffn_sp_release(ids) }
            return (0..<count).map { Int(ids[$0]) }
        }
    }

    public func decode(_ ids: [Int]) throws -> String {
        try checkIds(ids)
        let narrow = ids.map { Int32($0) }
        var text: UnsafeMutablePointer<CChar>? = nil
        var count = 0
        var message = [CChar](repeating: 0, count: 512)
        guard bffn_sp_decode(handle.pointer, narrow, narrow.count, &text, &count, &message, message.count) == 0, let text else {
            throw BFFNError(.malformed, "SentencePiece could not decode the ids: \(String(cString: message))")
        }
        defer { bffn_sp_release(text) }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self)
    }

    public func token(of id: Int) -> String? { id >= 0 && id < pieces.count ? pieces[id] : nil }

    public func id(of token: String) -> Int? { pieceIds[token] }
}

/// The model type recorded in a serialized SentencePiece ModelProto (field 2, TrainerSpec; its field 3,
/// model_type: 1 unigram, 2 BPE, 3 word, 4 char), read with a bounded protobuf walk.
enum SentencePieceModelType {
    static func read(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let spec = field(2, in: bytes), let type = varintField(3, in: spec) else { return nil }
        return [1: "unigram", 2: "BPE", 3: "word", 4: "char"][type]
    }

    private static func varint(_ b: UnsafeRawBufferPointer, _ i: inout Int) -> UInt64? {
        var v: UInt64 = 0, shift: UInt64 = 0
        while i < b.count && shift < 64 {
            let x = b[i]
            i += 1
            v |= UInt64(x & 0x7F) << shift
            if x & 0x80 == 0 { return v }
            shift += 7
        }
        return nil
    }

    /// Walks the message's fields; calls `visit(number, wireType, valueStart, value)` and stops when it returns true.
    private static func walk(_ b: UnsafeRawBufferPointer, _ visit: (Int, Int, Range<Int>, UInt64) -> Bool) {
        var i = 0
        while i < b.count {
            guard let key = varint(b, &i) else { return }
            let number = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0:
                guard let v = varint(b, &i) else { return }
                if visit(number, wire, i..<i, v) { return }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let n = varint(b, &i), n <= UInt64(b.count - i) else { return }
                let r = i..<(i + Int(n))
                if visit(number, wire, r, 0) { return }
                i = r.upperBound
            default: return
            }
        }
    }

    private static func field(_ number: Int, in b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var found: UnsafeRawBufferPointer? = nil
        walk(b) { n, wire, r, _ in
            if n == number && wire == 2 { found = UnsafeRawBufferPointer(rebasing: b[r]); return true }
            return false
        }
        return found
    }

    private static func varintField(_ number: Int, in b: UnsafeRawBufferPointer) -> Int? {
        var found: Int? = nil
        walk(b) { n, wire, _, v in
            if n == number && wire == 0 { found = Int(truncatingIfNeeded: v); return true }
            return false
        }
        return found
    }
}
