import BFFNCore

/// A place in a template's source: 1-based line and column (columns count Unicode code points).
struct TemplatePosition: Sendable, Equatable, CustomStringConvertible {
    /// The 1-based line.
    var line: Int
    /// The 1-based column, in code points.
    var column: Int
    var description: String { "line \(line), column \(column)" }
}

/// One token of a template: text to copy, a tag's delimiters, or a piece of an expression.
enum TemplateToken: Equatable {
    case data(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case end
}

/// Splits a template into tokens the way jinja2's lexer does with `trim_blocks=True`, `lstrip_blocks=True` and
/// `keep_trailing_newline=False`: newlines (`\r\n`, `\r`, `\n`) become `\n`, one trailing newline of the source
/// is dropped, `-` next to a delimiter strips all whitespace on that side, `+` keeps it, a block or comment tag
/// alone on its line loses the spaces before it, and the newline after `%}` / `#}` is dropped.
struct TemplateLexer {
    private let s: [Unicode.Scalar]
    private var pos = 0
    private var tokens: [(TemplateToken, Int)] = []
    private var lineStarts: [Int] = [0]

    /// Tokens with their positions.
    /// - Throws: `BFFNError.templateSyntax` for an unterminated tag, comment, string or raw block.
    static func tokenize(_ source: String) throws -> [(token: TemplateToken, position: TemplatePosition)] {
        var lexer = TemplateLexer(source: source)
        try lexer.run()
        lexer.tokens.append((.end, lexer.s.count))
        return lexer.tokens.map { ($0.0, lexer.position(of: $0.1)) }
    }

    private init(source: String) {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for c in source.unicodeScalars {
            if c == "\n" && previousCR { previousCR = false; continue }
            previousCR = c == "\r"
            out.append(c == "\r" ? "\n" : c)
        }
        if out.last == "\n" { out.removeLast() }
        s = out
        for (i, c) in s.enumerated() where c == "\n" { lineStarts.append(i + 1) }
    }

    /// The line and column of scalar offset `offset`.
    func position(of offset: Int) -> TemplatePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return TemplatePosition(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }

    private func syntaxError(_ message: String, at offset: Int) -> BFFNError {
        BFFNError.templateSyntax(message, at: position(of: offset), offset: offset)
    }

    private func at(_ i: Int, _ literal: String) -> Bool {
        var k = i
        for c in literal.unicodeScalars {
            guard k < s.count, s[k] == c else { return false }
            k += 1
        }
        return true
    }

    private func skipWhitespace(from i: Int) -> Int {
        var k = i
        while k < s.count, PythonText.isSpace(s[k]) { k += 1 }
        return k
    }

    private mutating func emitData(_ range: Range<Int>) {
        if !range.isEmpty { tokens.append((.data(String(String.UnicodeScalarView(s[range]))), range.lowerBound)) }
    }

    private mutating func run() throws {
        var lineStarting = true
        while pos < s.count {
            // The next tag start.
            var i = pos
            while i + 1 < s.count, !(s[i] == "{" && (s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#")) { i += 1 }
            if i + 1 >= s.count { emitData(pos..<s.count); return }
            let kind = s[i + 1]
            let sign: Unicode.Scalar? = (i + 2 < s.count && (s[i + 2] == "-" || s[i + 2] == "+")) ? s[i + 2] : nil
            var textEnd = i
            if sign == "-" {
                while textEnd > pos, PythonText.isSpace(s[textEnd - 1]) { textEnd -= 1 }
            } else if sign != "+" && kind != "{" {
                var lineStart = textEnd
                while lineStart > pos, s[lineStart - 1] != "\n" { lineStart -= 1 }
                if (lineStart > pos || lineStarting) && lineStart < textEnd
                    && s[lineStart..<textEnd].allSatisfy(PythonText.isSpace) { textEnd = lineStart }
            }
            if kind == "%", let raw = rawBegin(at: i) {
                emitData(pos..<textEnd)
                lineStarting = try lexRaw(from: raw, tagStart: i)
                continue
            }
            emitData(pos..<textEnd)
            let afterStart = i + 2 + (sign == nil ? 0 : 1)
            switch kind {
            case "#": lineStarting = try lexComment(from: afterStart, start: i)
            case "%":
                tokens.append((.blockBegin, i))
                lineStarting = try lexTag(from: afterStart, start: i, block: true)
            default:
                tokens.append((.variableBegin, i))
                lineStarting = try lexTag(from: afterStart, start: i, block: false)
            }
        }
    }

    /// Where a `{% raw %}` tag at `i` ends, or nil when the tag is not `raw`.
    private func rawBegin(at i: Int) -> Int? {
        var k = i + 2
        if k < s.count, s[k] == "-" || s[k] == "+" { k += 1 }
        k = skipWhitespace(from: k)
        guard at(k, "raw") else { return nil }
        k = skipWhitespace(from: k + 3)
        if at(k, "-%}") { return skipWhitespace(from: k + 3) }
        return at(k, "%}") ? k + 2 : nil
    }

    /// Copies a raw block's text up to `{% endraw %}`; returns whether the closing tag ended with a newline.
    private mutating func lexRaw(from start: Int, tagStart: Int) throws -> Bool {
        var j = start
        while j + 1 < s.count {
            if s[j] == "{" && s[j + 1] == "%" {
                var k = j + 2
                let sign: Unicode.Scalar? = (k < s.count && (s[k] == "-" || s[k] == "+")) ? s[k] : nil
                if sign != nil { k += 1 }
                k = skipWhitespace(from: k)
                if at(k, "endraw") {
                    k = skipWhitespace(from: k + 6)
                    var end: Int?
                    if at(k, "+%}") { end = k + 3 } else if at(k, "-%}") { end = skipWhitespace(from: k + 3) } else if at(k, "%}") {
                        end = k + 2 + (at(k + 2, "\n") ? 1 : 0)
                    }
                    if let end {
                        var textEnd = j
                        if sign == "-" { while textEnd > start, PythonText.isSpace(s[textEnd - 1]) { textEnd -= 1 } }
                        else if sign != "+" {
                            var lineStart = textEnd
                            while lineStart > start, s[lineStart - 1] != "\n" { lineStart -= 1 }
                            if lineStart > start && lineStart < textEnd && s[lineStart..<textEnd].allSatisfy(PythonText.isSpace) { textEnd = lineStart }
                        }
                        emitData(start..<textEnd)
                        pos = end
                        return end > 0 && s[end - 1] == "\n"
                    }
                }
            }
            j += 1
        }
        throw syntaxError("Missing end of raw directive", at: tagStart)
    }

    private mutating func lexComment(from start: Int, start tagStart: Int) throws -> Bool {
        var j = start
        while j < s.count {
            if at(j, "+#}") { pos = j + 3; return false }
            if at(j, "-#}") { pos = skipWhitespace(from: j + 3); return s[pos - 1] == "\n" }
            if at(j, "#}") {
                pos = j + 2 + (at(j + 2, "\n") ? 1 : 0)
                return s[pos - 1] == "\n"
            }
            j += 1
        }
        throw syntaxError("Missing end of comment tag", at: tagStart)
    }

    /// Expression tokens up to the tag's end delimiter (only where brackets balance); returns whether the end
    /// delimiter's match ended with a newline.
    private mutating func lexTag(from start: Int, start tagStart: Int, block: Bool) throws -> Bool {
        var k = start
        var brackets: [Unicode.Scalar] = []
        while true {
            guard k < s.count else {
                throw syntaxError("unexpected end of template, expected '\(block ? "%}" : "}}")'", at: tagStart)
            }
            if brackets.isEmpty {
                if block {
                    if at(k, "+%}") { tokens.append((.blockEnd, k)); pos = k + 3; return false }
                    if at(k, "-%}") { tokens.append((.blockEnd, k)); pos = skipWhitespace(from: k + 3); return s[pos - 1] == "\n" }
                    if at(k, "%}") {
                        tokens.append((.blockEnd, k))
                        pos = k + 2 + (at(k + 2, "\n") ? 1 : 0)
                        return s[pos - 1] == "\n"
                    }
                } else {
                    if at(k, "-}}") { tokens.append((.variableEnd, k)); pos = skipWhitespace(from: k + 3); return s[pos - 1] == "\n" }
                    if at(k, "}}") { tokens.append((.variableEnd, k)); pos = k + 2; return false }
                }
            }
            let c = s[k]
            if PythonText.isSpace(c) { k += 1; continue }
            if let (token, end) = try number(at: k) { tokens.append((token, k)); k = end; continue }
            if c == "_" || (c.isASCII && (c.properties.isAlphabetic)) {
                var e = k + 1
                while e < s.count, s[e] == "_" || (s[e].isASCII && (s[e].properties.isAlphabetic || s[e].properties.numericType != nil)) { e += 1 }
                tokens.append((.name(String(String.UnicodeScalarView(s[k..<e]))), k))
                k = e
                continue
            }
            if c == "'" || c == "\"" {
                var e = k + 1
                while e < s.count, s[e] != c { e += s[e] == "\\" ? 2 : 1 }
                guard e < s.count else { throw syntaxError("unexpected end of string", at: k) }
                tokens.append((.string(PythonText.unescape(Array(s[(k + 1)..<e]))), k))
                k = e + 1
                continue
            }
            let two = k + 1 < s.count ? String(String.UnicodeScalarView([c, s[k + 1]])) : ""
            if ["//", "**", "==", "!=", ">=", "<="].contains(two) { tokens.append((.op(two), k)); k += 2; continue }
            guard "+-/*%~[](){}><=.:|,;".unicodeScalars.contains(c) else {
                throw syntaxError("unexpected char '\(Character(c))'", at: k)
            }
            if c == "(" { brackets.append(")") } else if c == "[" { brackets.append("]") } else if c == "{" { brackets.append("}") }
            else if c == ")" || c == "]" || c == "}" {
                guard let expected = brackets.popLast() else { throw syntaxError("unexpected '\(Character(c))'", at: k) }
                guard expected == c else { throw syntaxError("unexpected '\(Character(c))', expected '\(Character(expected))'", at: k) }
            }
            tokens.append((.op(String(Character(c))), k))
            k += 1
        }
    }

    /// An integer or float literal at `k` (Python forms: underscores, 0x / 0o / 0b, exponents).
    private func number(at k: Int) throws -> (TemplateToken, Int)? {
        func isDigit(_ i: Int) -> Bool { i < s.count && s[i].value >= 48 && s[i].value <= 57 }
        guard isDigit(k) else { return nil }
        func digits(from i: Int) -> Int {
            var e = i
            while isDigit(e) || (e < s.count && s[e] == "_" && isDigit(e + 1) && e > i) { e += 1 }
            return e
        }
        if s[k] == "0", k + 1 < s.count, let radix = ["x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2][Character(s[k + 1])] {
            var e = k + 2, text = ""
            while e < s.count, s[e] == "_" || Int(String(Character(s[e])), radix: radix) != nil {
                if s[e] != "_" { text.unicodeScalars.append(s[e]) }
                e += 1
            }
            if let v = Int(text, radix: radix) { return (.integer(v), e) }
        }
        let intEnd = digits(from: k)
        var e = intEnd
        var isFloat = false
        if !(k > 0 && s[k - 1] == "."), e + 1 < s.count, s[e] == ".", isDigit(e + 1) { e = digits(from: e + 1); isFloat = true }
        if !(k > 0 && s[k - 1] == "."), e < s.count, s[e] == "e" || s[e] == "E" {
            var x = e + 1
            if x < s.count, s[x] == "+" || s[x] == "-" { x += 1 }
            if isDigit(x) { e = digits(from: x); isFloat = true }
        }
        let text = String(String.UnicodeScalarView(s[k..<e].filter { $0 != "_" }))
        if isFloat { return (.float(Double(text) ?? .infinity), e) }
        guard let v = Int(text) else { throw syntaxError("integer literal \(text) is too large", at: k) }
        return (.integer(v), e)
    }
}
