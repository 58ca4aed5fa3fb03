import BFFNCore

/// One variable scope: jinja2 gives each loop iteration, macro call and captured block its own, whose
/// assignments are not seen after it ends (hence `namespace`); `if` shares its parent's.
final class TemplateScope {
    var variables: [String: TemplateValue] = [:]
    let parent: TemplateScope?

    init(parent: TemplateScope?) { self.parent = parent }

    func lookup(_ name: String) -> TemplateValue? {
        var s: TemplateScope? = self
        while let scope = s {
            if let v = scope.variables[name] { return v }
            s = scope.parent
        }
        return nil
    }
}

/// Runs a parsed template: statements here, expressions in `TemplateRenderer+Expressions.swift`. It counts what
/// a hostile template could grow without bound (output bytes, loop iterations, call depth) against
/// `ChatTemplate.Limits` and stops with `.limitExceeded`.
final class TemplateRenderer {
    enum Flow { case normal, breakLoop, continueLoop }

    let limits: ChatTemplate.Limits
    let date: ChatTemplate.CivilTime?
    private var buffers: [String] = [""]
    private var iterations = 0
    private var callDepth = 0
    /// Namespaces and the scopes that hold macros: emptied after a render, which breaks the reference cycles
    /// a macro (whose closure is its scope) or `{% set ns.x = ns %}` make.
    var namespaces: [TemplateNamespace] = []
    private var definingScopes: [TemplateScope] = []
    /// Values visited by `checkNesting` in this render.
    var nestingWork = 0

    init(limits: ChatTemplate.Limits, date: ChatTemplate.CivilTime?) {
        self.limits = limits
        self.date = date
    }

    // MARK: errors

    /// A type error (jinja2 would raise Python's TypeError or ValueError).
    static func typeError(_ message: String) -> BFFNError { BFFNError(.templateError, message) }

    /// The error of using an undefined value as more than text.
    static func undefinedError(_ hint: String) -> BFFNError { BFFNError(.templateError, hint) }

    static func located(_ error: Error, at position: TemplatePosition) -> Error {
        guard var e = error as? BFFNError, e.code == .templateError, e.location.field == nil else { return error }
        e.location.field = position.description
        return e
    }

    // MARK: limits

    /// Checks a string a template built (concatenation, repetition, filters) against the output bound.
    func checkSize(_ s: String) throws {
        if s.utf8.count > limits.maxOutputBytes { throw sizeError() }
    }

    func checkCount(_ n: Int) throws {
        if n > limits.maxOutputBytes { throw sizeError() }
    }

    func sizeError() -> BFFNError {
        BFFNError(.limitExceeded, "the template's output would exceed \(limits.maxOutputBytes) bytes")
    }

    func countIterations(_ n: Int) throws {
        iterations += n
        if iterations > limits.maxLoopIterations {
            throw BFFNError(.limitExceeded, "the template ran more than \(limits.maxLoopIterations) loop iterations")
        }
    }

    // MARK: output

    func write(_ s: String) throws {
        if buffers[buffers.count - 1].utf8.count + s.utf8.count > limits.maxOutputBytes { throw sizeError() }
        buffers[buffers.count - 1] += s
    }

    /// Runs `body` with a fresh output buffer and returns what it wrote.
    func capture(_ body: () throws -> Void) rethrows -> String {
        buffers.append("")
        defer { buffers.removeLast() }
        try body()
        return buffers[buffers.count - 1]
    }

    /// Renders a whole template.
    func render(_ nodes: [TemplateNode], scope: TemplateScope) throws -> String {
        defer {
            for n in namespaces { n.attributes = TemplateDict() }
            for s in definingScopes { s.variables = [:] }
            namespaces = []
            definingScopes = []
        }
        return try capture { _ = try execute(nodes, scope) }
    }

    // MARK: statements

    func execute(_ nodes: [TemplateNode], _ scope: TemplateScope) throws -> Flow {
        for node in nodes {
            let flow = try execute(node, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ node: TemplateNode, _ scope: TemplateScope) throws -> Flow {
        switch node {
        case .text(let s):
            try write(s)
        case .output(let e, let at):
            do { try write(try evaluate(e, scope).pythonString) } catch { throw Self.located(error, at: at) }
        case .forLoop(let loop):
            try runFor(loop, scope)
        case .ifChain(let branches, let otherwise):
            for (test, body) in branches {
                if try evaluate(test, scope).truthy { return try execute(body, scope) }
            }
            return try execute(otherwise, scope)
        case .set(let target, let e, let at):
            do { try assign(target, try evaluate(e, scope), scope) } catch { throw Self.located(error, at: at) }
        case .setBlock(let target, let filter, let body, let at):
            let text = try capture { _ = try execute(body, TemplateScope(parent: scope)) }
            do { try assign(target, try applyBlockFilter(filter, to: text, scope), scope) } catch { throw Self.located(error, at: at) }
        case .macro(let m):
            scope.variables[m.name] = .function(macroFunction(m, closure: scope))
            definingScopes.append(scope)
        case .callBlock(let call, let caller, let at):
            guard case .call(let callee, let args, _) = call else { break }
            do {
                let f = try evaluate(callee, scope)
                var (positional, keyword) = try evaluateArguments(args, scope)
                keyword.append(("caller", .function(macroFunction(caller, closure: scope))))
                try write(try invoke(f, positional, keyword).pythonString)
            } catch { throw Self.located(error, at: at) }
        case .filterBlock(let filter, let body, let at):
            let text = try capture { _ = try execute(body, TemplateScope(parent: scope)) }
            do { try write(try applyBlockFilter(filter, to: text, scope).pythonString) } catch { throw Self.located(error, at: at) }
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        }
        return .normal
    }

    private func applyBlockFilter(_ filter: TemplateExpression?, to text: String, _ scope: TemplateScope) throws -> TemplateValue {
        guard let filter else { return .string(text) }
        let inner = TemplateScope(parent: scope)
        inner.variables[blockBodyName] = .string(text)
        return try evaluate(filter, inner)
    }

    private func runFor(_ loop: TemplateForLoop, _ scope: TemplateScope) throws {
        var items: [TemplateValue]
        do { items = try iterate(try evaluate(loop.iterable, scope)) } catch { throw Self.located(error, at: loop.position) }
        if let condition = loop.condition {
            try countIterations(items.count)
            items = try items.filter { item in
                let s = TemplateScope(parent: scope)
                try assign(loop.target, item, s)
                return try evaluate(condition, s).truthy
            }
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, TemplateScope(parent: scope))
            return
        }
        let context = TemplateLoop(items: items, depth0: 0)
        for (i, item) in items.enumerated() {
            try countIterations(1)
            context.index0 = i
            let s = TemplateScope(parent: scope)
            do { try assign(loop.target, item, s) } catch { throw Self.located(error, at: loop.position) }
            s.variables["loop"] = .loop(context)
            if try execute(loop.body, s) == .breakLoop { break }
        }
    }

    /// The items `for` visits: a list's or tuple's elements, a dict's keys, a string's code points; undefined
    /// is empty.
    func iterate(_ v: TemplateValue) throws -> [TemplateValue] {
        switch v {
        case .undefined: return []
        case .list(let a), .tuple(let a): return a
        case .dict(let d): return d.keys
        case .string(let s): return s.unicodeScalars.map { .string(String(Character($0))) }
        case .namespace(let n): return n.attributes.keys
        default: throw Self.typeError("'\(v.typeName)' object is not iterable")
        }
    }

    func assign(_ target: TemplateTarget, _ value: TemplateValue, _ scope: TemplateScope) throws {
        switch target {
        case .name(let n):
            scope.variables[n] = value
        case .tuple(let targets):
            let items = try iterate(value)
            guard items.count == targets.count else {
                throw Self.typeError(items.count > targets.count ? "too many values to unpack (expected \(targets.count))"
                                     : "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope) }
        case .attribute(let name, let attribute):
            guard case .namespace(let ns)? = scope.lookup(name) else {
                throw Self.typeError("cannot assign attribute on non-namespace object")
            }
            try checkNesting(value)
            ns.attributes[.string(attribute)] = value
        }
    }

    // MARK: calls

    /// A macro (or a `call` block's caller) as a function: arguments bind to the parameters in order or by
    /// name, missing ones take their defaults (evaluated in the call's scope) or are undefined; extra
    /// positional arguments are `varargs`, extra keywords `kwargs`. The result is the rendered body.
    func macroFunction(_ m: TemplateMacro, closure: TemplateScope) -> TemplateFunction {
        TemplateFunction(m.name) { renderer, positional, keyword in
            try renderer.enterCall(m.name)
            defer { renderer.callDepth -= 1 }
            let scope = TemplateScope(parent: closure)
            var extraKeywords = TemplateDict()
            for (name, value) in keyword {
                if m.parameters.contains(where: { $0.name == name }) || name == "caller" { scope.variables[name] = value } else { extraKeywords[.string(name)] = value }
            }
            for (i, p) in m.parameters.enumerated() {
                if i < positional.count {
                    if scope.variables[p.name] != nil { throw Self.typeError("macro '\(m.name)' got multiple values for argument '\(p.name)'") }
                    scope.variables[p.name] = positional[i]
                } else if scope.variables[p.name] == nil {
                    scope.variables[p.name] = try p.defaultValue.map { try renderer.evaluate($0, scope) }
                        ?? .undefined("parameter '\(p.name)' was not provided")
                }
            }
            scope.variables["varargs"] = .tuple(Array(positional.dropFirst(m.parameters.count)))
            scope.variables["kwargs"] = .dict(extraKeywords)
            let text = try renderer.capture { _ = try renderer.execute(m.body, scope) }
            return .string(text)
        }
    }

    func enterCall(_ name: String) throws {
        callDepth += 1
        if callDepth > limits.maxCallDepth {
            throw BFFNError(.limitExceeded, "macro calls nest deeper than \(limits.maxCallDepth) (in '\(name)')")
        }
    }

    func invoke(_ f: TemplateValue, _ positional: [TemplateValue], _ keyword: [(String, TemplateValue)]) throws -> TemplateValue {
        switch f {
        case .function(let fn): return try fn.body(self, positional, keyword)
        case .undefined(let hint): throw Self.undefinedError(hint)
        default: throw Self.typeError("'\(f.typeName)' object is not callable")
        }
    }
}
