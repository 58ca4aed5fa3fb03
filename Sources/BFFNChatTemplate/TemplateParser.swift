import BFFNCore

/// Builds a template's statements from its tokens, following jinja2's grammar (`jinja2/parser.py`):
/// `for` (with `else`, a filter `if`, tuple targets), `if`/`elif`/`else`, `set` (also the block form and
/// `ns.attr`), `macro`, `call`, `filter`, `break`, `continue`, `generation` (its body is output as is).
/// Expressions are in `TemplateParser+Expressions.swift`.
struct TemplateParser {
    var tokens: [(token: TemplateToken, position: TemplatePosition)]
    var index = 0
    var depth = 0
    let maxDepth: Int

    init(source: String, maxDepth: Int) throws {
        tokens = try TemplateLexer.tokenize(source)
        self.maxDepth = maxDepth
    }

    var current: TemplateToken { tokens[index].token }
    var position: TemplatePosition { tokens[index].position }
    func peek(_ k: Int = 1) -> TemplateToken { tokens[min(index + k, tokens.count - 1)].token }
    mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    func fail(_ message: String, at where: TemplatePosition? = nil) -> BFFNError {
        BFFNError.templateSyntax(message, at: `where` ?? position)
    }

    /// Counts one level of nesting; throws past the limit so a hostile template cannot exhaust the stack.
    mutating func enter() throws {
        depth += 1
        if depth > maxDepth {
            throw BFFNError(.limitExceeded, "template nests deeper than \(maxDepth) levels at \(position)")
        }
    }

    func describe(_ t: TemplateToken) -> String {
        switch t {
        case .data: return "template data"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "end of statement block"
        case .name(let n): return "'\(n)'"
        case .string: return "string"
        case .integer, .float: return "number"
        case .op(let o): return "'\(o)'"
        case .end: return "end of template"
        }
    }

    func isName(_ name: String) -> Bool { if case .name(name) = current { return true } else { return false } }
    func isOp(_ op: String) -> Bool { if case .op(op) = current { return true } else { return false } }

    mutating func expectName(_ name: String) throws {
        guard isName(name) else { throw fail("expected '\(name)', got \(describe(current))") }
        advance()
    }

    mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw fail("expected '\(op)', got \(describe(current))") }
        advance()
    }

    mutating func expectBlockEnd() throws {
        guard current == .blockEnd else { throw fail("expected end of statement block, got \(describe(current))") }
        advance()
    }

    mutating func identifier() throws -> String {
        guard case .name(let n) = current else { throw fail("expected a name, got \(describe(current))") }
        advance()
        return n
    }

    /// The whole template.
    mutating func parseTemplate() throws -> [TemplateNode] {
        let nodes = try subparse(until: [])
        guard current == .end else { throw fail("unexpected \(describe(current))") }
        return nodes
    }

    /// Nodes up to a block tag named in `ends`; the stream is left on that tag's name.
    mutating func subparse(until ends: Set<String>) throws -> [TemplateNode] {
        try enter()
        defer { depth -= 1 }
        var nodes: [TemplateNode] = []
        while true {
            switch current {
            case .data(let text):
                nodes.append(.text(text))
                advance()
            case .variableBegin:
                let at = position
                advance()
                let e = try parseTuple()
                guard current == .variableEnd else { throw fail("expected end of print statement, got \(describe(current))") }
                advance()
                nodes.append(.output(e, at))
            case .blockBegin:
                let at = position
                advance()
                guard case .name(let tag) = current else { throw fail("tag name expected", at: at) }
                if ends.contains(tag) { return nodes }
                nodes += try parseStatement(tag, at: at, enclosing: ends)
            case .end:
                if !ends.isEmpty {
                    throw fail("unexpected end of template; looking for the tags " + ends.sorted().map { "'\($0)'" }.joined(separator: " or "))
                }
                return nodes
            default:
                throw fail("unexpected \(describe(current))")
            }
        }
    }

    mutating func parseStatement(_ tag: String, at: TemplatePosition, enclosing: Set<String>) throws -> [TemplateNode] {
        advance()
        switch tag {
        case "for": return [try parseFor(at)]
        case "if": return [try parseIf()]
        case "set": return [try parseSet(at)]
        case "macro":
            let name = try identifier()
            let macro = try parseMacroBody(name: name, at: at, end: "endmacro")
            return [.macro(macro)]
        case "call":
            var params: [(name: String, defaultValue: TemplateExpression?)] = []
            if isOp("(") { params = try parseSignature() }
            let callPosition = position
            let call = try parseExpression()
            guard case .call = call else { throw fail("expected a call", at: callPosition) }
            try expectBlockEnd()
            let body = try subparse(until: ["endcall"])
            advance()
            try expectBlockEnd()
            return [.callBlock(call: call, caller: TemplateMacro(name: "caller", parameters: params, body: body, position: at), at)]
        case "filter":
            let filter = try parseFilterChain(.name(blockBodyName, at), startInline: true)
            try expectBlockEnd()
            let body = try subparse(until: ["endfilter"])
            advance()
            try expectBlockEnd()
            return [.filterBlock(filter, body: body, at)]
        case "break", "continue":
            try expectBlockEnd()
            return [tag == "break" ? .breakLoop(at) : .continueLoop(at)]
        case "generation":
            try expectBlockEnd()
            let body = try subparse(until: ["endgeneration"])
            advance()
            try expectBlockEnd()
            return body
        default:
            if !enclosing.isEmpty {
                throw fail("encountered unknown tag '\(tag)'; looking for the tags " + enclosing.sorted().map { "'\($0)'" }.joined(separator: " or "), at: at)
            }
            throw fail("encountered unknown tag '\(tag)'", at: at)
        }
    }

    mutating func parseFor(_ at: TemplatePosition) throws -> TemplateNode {
        let target = try parseAssignTarget(namespace: false)
        try expectName("in")
        let iterable = try parseTuple(conditional: false, endNames: ["recursive"])
        var condition: TemplateExpression?
        if isName("if") {
            advance()
            condition = try parseExpression()
        }
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        let body = try subparse(until: ["endfor", "else"])
        var otherwise: [TemplateNode] = []
        if isName("else") {
            advance()
            try expectBlockEnd()
            otherwise = try subparse(until: ["endfor"])
        }
        advance()
        try expectBlockEnd()
        return .forLoop(TemplateForLoop(target: target, iterable: iterable, condition: condition, body: body,
                                        otherwise: otherwise, position: at))
    }

    mutating func parseIf() throws -> TemplateNode {
        var branches: [(TemplateExpression, [TemplateNode])] = []
        var otherwise: [TemplateNode] = []
        while true {
            let test = try parseTuple(conditional: false)
            try expectBlockEnd()
            let body = try subparse(until: ["elif", "else", "endif"])
            branches.append((test, body))
            if isName("elif") { advance(); continue }
            if isName("else") {
                advance()
                try expectBlockEnd()
                otherwise = try subparse(until: ["endif"])
            }
            advance()
            try expectBlockEnd()
            return .ifChain(branches, otherwise: otherwise)
        }
    }

    mutating func parseSet(_ at: TemplatePosition) throws -> TemplateNode {
        let target = try parseAssignTarget(namespace: true)
        if isOp("=") {
            advance()
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value, at)
        }
        var filter: TemplateExpression?
        if isOp("|") { filter = try parseFilterChain(.name(blockBodyName, at), startInline: false) }
        try expectBlockEnd()
        let body = try subparse(until: ["endset"])
        advance()
        try expectBlockEnd()
        return .setBlock(target, filter: filter, body: body, at)
    }

    mutating func parseMacroBody(name: String, at: TemplatePosition, end: String) throws -> TemplateMacro {
        let params = try parseSignature()
        try expectBlockEnd()
        let body = try subparse(until: [end])
        advance()
        try expectBlockEnd()
        return TemplateMacro(name: name, parameters: params, body: body, position: at)
    }

    /// `(a, b=default, ...)`.
    mutating func parseSignature() throws -> [(name: String, defaultValue: TemplateExpression?)] {
        try expectOp("(")
        var params: [(name: String, defaultValue: TemplateExpression?)] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try identifier()
            var value: TemplateExpression?
            if isOp("=") {
                advance()
                value = try parseExpression()
            } else if params.contains(where: { $0.defaultValue != nil }) {
                throw fail("non-default argument follows default argument")
            }
            params.append((name, value))
        }
        advance()
        return params
    }

    /// A `for` or `set` target: a name, names separated by commas (optionally in parentheses), or with
    /// `namespace` an `ns.attr` reference.
    mutating func parseAssignTarget(namespace: Bool) throws -> TemplateTarget {
        if namespace, case .name(let n) = current, peek() == .op(".") {
            advance()
            advance()
            return .attribute(n, try identifier())
        }
        func single(_ p: inout TemplateParser) throws -> TemplateTarget {
            if p.isOp("(") {
                p.advance()
                let inner = try p.parseAssignTarget(namespace: false)
                try p.expectOp(")")
                return inner
            }
            let n = try p.identifier()
            if ["true", "false", "none", "True", "False", "None"].contains(n) { throw p.fail("can't assign to '\(n)'") }
            return .name(n)
        }
        var targets = [try single(&self)]
        var isTuple = false
        while isOp(",") {
            advance()
            isTuple = true
            if isName("in") || isOp("=") || isOp(")") || current == .blockEnd { break }
            targets.append(try single(&self))
        }
        return isTuple ? .tuple(targets) : targets[0]
    }
}
