/// GPT-2's byte-to-character table: byte-level BPE vocabularies spell every byte as a printable character
/// (`!`...`~`, `¡`...`¬`, `®`...`ÿ` stand for themselves; the other 68 bytes map to U+0100 onwards, in byte
/// order, so a space is `Ġ` and a newline `Ċ`).
enum ByteLevelAlphabet {
    /// The character of each byte.
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte of each character (its scalar value below 324 indexes this table; -1 for other characters).
    private static let bytesOfScalars: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, c) in characters.enumerated() { table[Int(c.value)] = Int16(b) }
        return table
    }()

    /// The byte a character stands for, or nil.
    static func byte(of c: Unicode.Scalar) -> UInt8? {
        c.value < 324 && bytesOfScalars[Int(c.value)] >= 0 ? UInt8(bytesOfScalars[Int(c.value)]) : nil
    }

    /// The bytes a token string spells; a token with any other character (an added token such as `<|endoftext|>`
    /// spelled outside the table) stands for its own UTF-8 bytes, as the library's decoder treats it.
    static func bytes(of token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for u in token.unicodeScalars {
            guard let b = byte(of: u) else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }

    /// The token string of raw bytes.
    static func string(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(characters[Int(b)]) }
        return String(s)
    }
}
