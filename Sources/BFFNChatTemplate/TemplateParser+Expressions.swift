import BFFNCore

/// Expressions, lowest precedence first, as jinja2 parses them: `a if c else b`, `or`, `and`, `not`, comparisons
/// (`== != < <= > >= in`, `not in`, chained), `+ -`, `~`, `* / // %`, `**` (left to right, as in jinja2),
/// unary `- +`, then a primary with postfix `.name`, `[...]`, `(...)`, filters `|f` and tests `is t`.
extension TemplateParser {
    /// An expression, or several separated by commas as a tuple.
    mutating func parseTuple(conditional: Bool = true, endNames: Set<String> = [], explicitParentheses: Bool = false) throws -> TemplateExpression {
        var items: [TemplateExpression] = []
        var isTuple = false
        let start = position
        while true {
            if !items.isEmpty { try expectOp(",") }
            if current == .variableEnd || current == .blockEnd || isOp(")") { break }
            if case .name(let n) = current, endNames.contains(n) { break }
            items.append(conditional ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let first = items.first { return first }
            if !explicitParentheses { throw fail("expected an expression, got \(describe(current))", at: start) }
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> TemplateExpression {
        try enter()
        defer { depth -= 1 }
        var e = try parseOr()
        while isName("if") {
            advance()
            let test = try parseOr()
            var otherwise: TemplateExpression?
            if isName("else") {
                advance()
                otherwise = try parseExpression()
            }
            e = .conditional(test: test, then: e, otherwise: otherwise)
        }
        return e
    }

    mutating func parseOr() throws -> TemplateExpression {
        var e = try parseAnd()
        while isName("or") { advance(); e = .or(e, try parseAnd()) }
        return e
    }

    mutating func parseAnd() throws -> TemplateExpression {
        var e = try parseNot()
        while isName("and") { advance(); e = .and(e, try parseNot()) }
        return e
    }

    mutating func parseNot() throws -> TemplateExpression {
        if isName("not") {
            advance()
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> TemplateExpression {
        let at = position
        let first = try parseMath1()
        var ops: [(TemplateComparison, TemplateExpression)] = []
        while true {
            if case .op(let o) = current, let c = TemplateComparison(rawValue: o), c != .contains, c != .notContains {
                advance()
                ops.append((c, try parseMath1()))
            } else if isName("in") {
                advance()
                ops.append((.contains, try parseMath1()))
            } else if isName("not"), peek() == .name("in") {
                advance()
                advance()
                ops.append((.notContains, try parseMath1()))
            } else { break }
        }
        return ops.isEmpty ? first : .compare(first, ops, at)
    }

    mutating func parseMath1() throws -> TemplateExpression {
        var e = try parseConcat()
        while case .op(let o) = current, o == "+" || o == "-" {
            let at = position
            advance()
            e = .binary(o == "+" ? .add : .subtract, e, try parseConcat(), at)
        }
        return e
    }

    mutating func parseConcat() throws -> TemplateExpression {
        var e = try parseMath2()
        while isOp("~") {
            let at = position
            advance()
            e = .binary(.concat, e, try parseMath2(), at)
        }
        return e
    }

    mutating func parseMath2() throws -> TemplateExpression {
        var e = try parsePow()
        while case .op(let o) = current, let op = TemplateBinaryOperator(rawValue: o), [.multiply, .divide, .floorDivide, .modulo].contains(op) {
            let at = position
            advance()
            e = .binary(op, e, try parsePow(), at)
        }
        return e
    }

    mutating func parsePow() throws -> TemplateExpression {
        var e = try parseUnary()
        while isOp("**") {
            let at = position
            advance()
            e = .binary(.power, e, try parseUnary(), at)
        }
        return e
    }

    mutating func parseUnary(withFilter: Bool = true) throws -> TemplateExpression {
        try enter()
        defer { depth -= 1 }
        let at = position
        var e: TemplateExpression
        if isOp("-") {
            advance()
            e = .negate(try parseUnary(withFilter: false), at)
        } else if isOp("+") {
            advance()
            e = .plus(try parseUnary(withFilter: false), at)
        } else {
            e = try parsePrimary()
        }
        e = try parsePostfix(e)
        if withFilter { e = try parseFilterExpression(e) }
        return e
    }

    mutating func parsePrimary() throws -> TemplateExpression {
        let at = position
        switch current {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n, at)
            }
        case .string(let s):
            advance()
            var text = s
            while case .string(let more) = current { text += more; advance() }
            return .literal(.string(text))
        case .integer(let i): advance(); return .literal(.int(i))
        case .float(let d): advance(); return .literal(.double(d))
        case .op("("):
            advance()
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [TemplateExpression] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            advance()
            return .list(items)
        case .op("{"):
            advance()
            var items: [(TemplateExpression, TemplateExpression)] = []
            while !isOp("}") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                items.append((key, try parseExpression()))
            }
            advance()
            return .dict(items)
        default:
            throw fail("unexpected \(describe(current))")
        }
    }

    mutating func parsePostfix(_ base: TemplateExpression) throws -> TemplateExpression {
        var e = base
        while true {
            let at = position
            if isOp(".") {
                advance()
                switch current {
                case .name(let n): advance(); e = .attribute(e, n, at)
                case .integer(let i): advance(); e = .item(e, .literal(.int(i)), at)
                default: throw fail("expected name or number after '.'")
                }
            } else if isOp("[") {
                advance()
                var args: [TemplateExpression] = []
                while !isOp("]") {
                    if !args.isEmpty { try expectOp(",") }
                    if isOp("]") { break }
                    args.append(try parseSubscribed())
                }
                advance()
                guard !args.isEmpty else { throw fail("expected a subscript", at: at) }
                e = .item(e, args.count == 1 ? args[0] : .tuple(args), at)
            } else if isOp("(") {
                e = .call(e, try parseCallArguments(), at)
            } else { return e }
        }
    }

    /// One subscript: an expression, or a slice `start:stop:step` with any part left out.
    mutating func parseSubscribed() throws -> TemplateExpression {
        var start: TemplateExpression?
        if !isOp(":") {
            start = try parseExpression()
            guard isOp(":") else { return start! }
        }
        advance()
        var stop: TemplateExpression?
        var step: TemplateExpression?
        if !isOp("]") && !isOp(",") && !isOp(":") { stop = try parseExpression() }
        if isOp(":") {
            advance()
            if !isOp("]") && !isOp(",") { step = try parseExpression() }
        }
        return .slice(start, stop, step)
    }

    mutating func parseCallArguments() throws -> TemplateArguments {
        try expectOp("(")
        var args = TemplateArguments()
        var first = true
        while !isOp(")") {
            if !first {
                try expectOp(",")
                if isOp(")") { break }
            }
            first = false
            if isOp("*") {
                advance()
                args.star = try parseExpression()
            } else if isOp("**") {
                advance()
                args.doubleStar = try parseExpression()
            } else if case .name(let n) = current, peek() == .op("=") {
                advance()
                advance()
                args.keyword.append((n, try parseExpression()))
            } else {
                if !args.keyword.isEmpty || args.star != nil || args.doubleStar != nil { throw fail("invalid syntax for function call expression") }
                args.positional.append(try parseExpression())
            }
        }
        advance()
        return args
    }

    mutating func parseFilterExpression(_ base: TemplateExpression) throws -> TemplateExpression {
        var e = base
        while true {
            if isOp("|") {
                e = try parseFilterChain(e, startInline: false)
            } else if isName("is") {
                e = try parseTest(e)
            } else if isOp("(") {
                e = .call(e, try parseCallArguments(), position)
            } else { return e }
        }
    }

    /// Filters applied to `base`: `| name(args) | ...`; with `startInline` the first has no `|` before it.
    mutating func parseFilterChain(_ base: TemplateExpression, startInline: Bool) throws -> TemplateExpression {
        var e = base
        var first = startInline
        while first || isOp("|") {
            if !first { advance() }
            first = false
            let at = position
            var name = try identifier()
            while isOp(".") { advance(); name += "." + (try identifier()) }
            let args = isOp("(") ? try parseCallArguments() : TemplateArguments()
            e = .filter(e, name, args, at)
        }
        return e
    }

    mutating func parseTest(_ base: TemplateExpression) throws -> TemplateExpression {
        let at = position
        advance()
        var negated = false
        if isName("not") { advance(); negated = true }
        var name = try identifier()
        while isOp(".") { advance(); name += "." + (try identifier()) }
        var args = TemplateArguments()
        if isOp("(") {
            args = try parseCallArguments()
        } else {
            var takesArgument = false
            switch current {
            case .name(let n): takesArgument = !["else", "or", "and"].contains(n)
                if n == "is" { throw fail("You cannot chain multiple tests with is") }
            case .string, .integer, .float, .op("["), .op("{"): takesArgument = true
            default: break
            }
            if takesArgument { args.positional = [try parsePostfix(try parsePrimary())] }
        }
        return .test(base, name, args, negated: negated, at)
    }
}
