/// The ByteLevel pre-tokenizer's split (GPT-2's pattern), written out by hand so it needs no regex engine:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// Alternatives are tried in that order at each position (leftmost first, each greedy). `\p{L}` is a letter
/// (general category L*), `\p{N}` a number (N*), `\s` a character with the Unicode White_Space property, as
/// the library's Oniguruma pattern matches them.
enum ByteLevelSplitter {
    enum Class: UInt8 { case other, letter, number, space }

    private static let asciiClasses: [Class] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    static func classify(_ u: Unicode.Scalar) -> Class {
        let p = u.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The byte ranges of the words of `text` (valid UTF-8), in order, covering all of it.
    static func split(_ text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        // Decode once: each character's byte offset, value and class.
        var offsets: [Int] = [], values: [UInt32] = [], classes: [Class] = []
        offsets.reserveCapacity(text.count + 1)
        var i = 0
        while i < text.count {
            let (c, length) = utf8Scalar(text, at: i)
            offsets.append(i)
            values.append(c)
            classes.append(c < 128 ? asciiClasses[Int(c)] : classify(Unicode.Scalar(c) ?? "\u{FFFD}"))
            i += length
        }
        offsets.append(text.count)
        let n = values.count
        var words: [Range<Int>] = []
        var s = 0
        func run(from k: Int, of cls: Class) -> Int {
            var e = k
            while e < n && classes[e] == cls { e += 1 }
            return e
        }
        while s < n {
            var e: Int
            let c = values[s]
            if c == 0x27, s + 1 < n, let a = Unicode.Scalar(values[s + 1]), "stmd".unicodeScalars.contains(a) {
                e = s + 2
            } else if c == 0x27, s + 2 < n, ["re", "ve", "ll"].contains(String(String.UnicodeScalarView([Unicode.Scalar(values[s + 1]) ?? "\0", Unicode.Scalar(values[s + 2]) ?? "\0"]))) {
                e = s + 3
            } else if classes[s] != .space {
                e = run(from: s, of: classes[s])
            } else if c == 0x20, s + 1 < n, classes[s + 1] != .space {
                e = run(from: s + 1, of: classes[s + 1])
            } else {
                let end = run(from: s, of: .space)
                // \s+(?!\S): the run, less its last character when a non-space follows; \s+ when that leaves none.
                e = end == n || end - s == 1 ? end : end - 1
            }
            words.append(offsets[s]..<offsets[e])
            s = e
        }
        return words
    }
}
