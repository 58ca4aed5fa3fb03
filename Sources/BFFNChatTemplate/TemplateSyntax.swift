/// The parsed form of a template: statements (`TemplateNode`) holding expressions (`TemplateExpression`), each
/// with the position it came from for error messages.
indirect enum TemplateExpression: Sendable {
    case literal(TemplateValue)
    case name(String, TemplatePosition)
    case list([TemplateExpression])
    case tuple([TemplateExpression])
    case dict([(TemplateExpression, TemplateExpression)])
    /// `x.name`: an attribute first, else an item (jinja2's `getattr`).
    case attribute(TemplateExpression, String, TemplatePosition)
    /// `x[key]`: an item first, else an attribute (jinja2's `getitem`).
    case item(TemplateExpression, TemplateExpression, TemplatePosition)
    /// `start:stop:step` inside brackets.
    case slice(TemplateExpression?, TemplateExpression?, TemplateExpression?)
    case negate(TemplateExpression, TemplatePosition)
    case plus(TemplateExpression, TemplatePosition)
    case not(TemplateExpression)
    case and(TemplateExpression, TemplateExpression)
    case or(TemplateExpression, TemplateExpression)
    case binary(TemplateBinaryOperator, TemplateExpression, TemplateExpression, TemplatePosition)
    /// A chain like `a < b <= c`: each comparison on its neighbours, all of them true.
    case compare(TemplateExpression, [(TemplateComparison, TemplateExpression)], TemplatePosition)
    /// `a if test else b`; without `else` the result is undefined when the test fails.
    case conditional(test: TemplateExpression, then: TemplateExpression, otherwise: TemplateExpression?)
    case call(TemplateExpression, TemplateArguments, TemplatePosition)
    /// `value | name(args)`.
    case filter(TemplateExpression, String, TemplateArguments, TemplatePosition)
    /// `value is [not] name(args)`.
    case test(TemplateExpression, String, TemplateArguments, negated: Bool, TemplatePosition)
}

/// The arithmetic operators and `~`.
enum TemplateBinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~"
}

/// The comparison operators, `in` and `not in`.
enum TemplateComparison: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case contains = "in", notContains = "not in"
}

/// The arguments of a call, a filter or a test: positional, keyword, `*args` and `**kwargs`.
struct TemplateArguments: Sendable {
    var positional: [TemplateExpression] = []
    var keyword: [(String, TemplateExpression)] = []
    var star: TemplateExpression?
    var doubleStar: TemplateExpression?
}

/// What `set` and `for` assign to: a name, a tuple of targets, or `namespace.attribute`.
indirect enum TemplateTarget: Sendable {
    case name(String)
    case tuple([TemplateTarget])
    case attribute(String, String)
}

/// A macro's definition: parameters with their defaults, and body.
struct TemplateMacro: Sendable {
    var name: String
    var parameters: [(name: String, defaultValue: TemplateExpression?)]
    var body: [TemplateNode]
    var position: TemplatePosition
}

/// A `for` statement.
struct TemplateForLoop: Sendable {
    var target: TemplateTarget
    var iterable: TemplateExpression
    var condition: TemplateExpression?
    var body: [TemplateNode]
    var otherwise: [TemplateNode]
    var position: TemplatePosition
}

/// One statement or piece of output.
indirect enum TemplateNode: Sendable {
    case text(String)
    case output(TemplateExpression, TemplatePosition)
    case forLoop(TemplateForLoop)
    case ifChain([(TemplateExpression, [TemplateNode])], otherwise: [TemplateNode])
    case set(TemplateTarget, TemplateExpression, TemplatePosition)
    /// `{% set x | filters %}body{% endset %}`: the filters are applied to a placeholder name.
    case setBlock(TemplateTarget, filter: TemplateExpression?, body: [TemplateNode], TemplatePosition)
    case macro(TemplateMacro)
    /// `{% call(params) macro(args) %}body{% endcall %}`: the body becomes `caller`.
    case callBlock(call: TemplateExpression, caller: TemplateMacro, TemplatePosition)
    /// `{% filter name(args) | ... %}body{% endfilter %}`: the filters are applied to a placeholder name.
    case filterBlock(TemplateExpression, body: [TemplateNode], TemplatePosition)
    case breakLoop(TemplatePosition)
    case continueLoop(TemplatePosition)
}

/// The name a block filter's expression reads its body from (not a valid template identifier).
let blockBodyName = " body"
