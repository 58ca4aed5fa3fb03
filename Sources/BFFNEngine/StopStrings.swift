/// Turns generated ids into text piece by piece (BFFNTokenizer's `StreamingDetokenizer` is one): each call
/// returns the text the id completes, "" while a character is incomplete.
public protocol TokenTextDecoder {
    /// Adds `id`; returns the text it completes.
    mutating func push(_ id: Int) throws -> String
    /// The text still held back at the end (an incomplete character), decoded as it is.
    mutating func finish() throws -> String
}

/// Finds stop strings in generated text as ids arrive: the text is cut before the first occurrence of any of
/// them, and the text that could still be the start of one is held back from `push`'s result, so what has been
/// shown never contains (part of) a stop string that ends generation.
public struct StopStringMatcher {
    private var decoder: any TokenTextDecoder
    private let stops: [[UInt8]]
    private var bytes: [UInt8] = []
    private var shown = 0
    /// Whether a stop string has appeared.
    public private(set) var stopped = false

    /// A matcher for `strings` (empty strings are ignored) over the text `decoder` produces.
    public init(strings: [String], decoder: any TokenTextDecoder) {
        self.decoder = decoder
        stops = strings.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// The text so far, cut before the stop string once one has appeared.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Adds `id`; returns the text that can be shown now (none of it the start of a stop string). After a stop
    /// string appeared, further ids are ignored.
    /// - Throws: the decoder's errors.
    public mutating func push(_ id: Int) throws -> String {
        guard !stopped else { return "" }
        return append(try decoder.push(id))
    }

    /// The text still to show when generation ends: what was held back as the possible start of a stop string,
    /// and the decoder's incomplete last character (cut before a stop string that it completes).
    /// - Throws: the decoder's errors.
    public mutating func finish() throws -> String {
        guard !stopped else { return "" }
        let last = append(try decoder.finish())
        return stopped ? last : last + take(upTo: bytes.count)
    }

    private mutating func append(_ piece: String) -> String {
        let searchFrom = max(0, shown - (stops.map(\.count).max() ?? 0))
        bytes += Array(piece.utf8)
        var cut: Int? = nil
        for stop in stops {
            if let at = Self.firstIndex(of: stop, in: bytes, from: searchFrom), at < (cut ?? Int.max) { cut = at }
        }
        if let cut {
            stopped = true
            bytes.removeSubrange(cut...)
            return take(upTo: cut)
        }
        // Hold back the longest suffix that is a proper prefix of a stop string (it starts at a character
        // boundary, since a stop string's first byte is one).
        var held = 0
        for stop in stops {
            for k in stride(from: min(stop.count - 1, bytes.count - shown), to: held, by: -1)
            where bytes[(bytes.count - k)...].elementsEqual(stop[..<k]) {
                held = k
                break
            }
        }
        return take(upTo: bytes.count - held)
    }

    private mutating func take(upTo end: Int) -> String {
        guard end > shown else { return "" }
        defer { shown = end }
        return String(decoding: bytes[shown..<end], as: UTF8.self)
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
