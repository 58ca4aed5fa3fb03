import BFFNChatTemplate
import BFFNCore
import BFFNTestSupport
import Testing

/// Syntax errors with their positions, errors while rendering (jinja2 raises the same ones: the messages in
/// comments are jinja2's), and the limits that stop hostile templates.
@Suite("chat template errors and limits")
struct ErrorAndLimitTests {
    static func render(_ source: String, limits: ChatTemplate.Limits = .init()) throws -> String {
        try ChatTemplate(source: source, limits: limits).render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil)
    }

    static func error(_ source: String, limits: ChatTemplate.Limits = .init()) -> BFFNError? {
        do {
            let text = try render(source, limits: limits)
            Issue.record("\(source.debugDescription) rendered \(text.debugDescription)")
            return nil
        } catch let e as BFFNError { return e } catch {
            Issue.record("\(source.debugDescription) threw \(error)")
            return nil
        }
    }

    /// jinja2 reports the same lines (it gives no column).
    @Test func syntaxErrorsNameLineAndColumn() {
        let cases: [(String, String)] = [
            ("a\n{% if %}", "line 2, column 7: expected an expression, got end of statement block"),
            ("{% for x in y %}\nno end", "line 2, column 7: unexpected end of template; looking for the tags 'else' or 'endfor'"),
            ("x\n\n  {{ 1 + }}", "line 3, column 10: unexpected end of print statement"),
            ("{% endfor %}", "line 1, column 1: encountered unknown tag 'endfor'"),
            ("{{ 'unterminated }}", "line 1, column 4: unexpected end of string"),
            ("a\n{% include 'x' %}", "line 2, column 1: encountered unknown tag 'include'"),
            ("{# never closed", "line 1, column 1: Missing end of comment tag"),
            ("{{ (1 + 2 }}", "line 1, column 11: unexpected '}', expected ')'"),
            ("{{ 1 + 2", "line 1, column 1: unexpected end of template, expected '}}'"),
            ("{{ 99999999999999999999 }}", "line 1, column 4: integer literal 99999999999999999999 is too large"),
        ]
        for (source, reason) in cases {
            do {
                _ = try ChatTemplate(source: source)
                Issue.record("\(source.debugDescription) parsed")
            } catch let e as BFFNError {
                #expect(e.code == .templateSyntax && e.reason == reason, "\(source.debugDescription): \(e)")
            } catch { Issue.record("\(error)") }
        }
    }

    @Test func raiseExceptionKeepsTheMessage() {
        let e = Self.error("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}")
        #expect(e?.code == .templateRaised && e?.reason == "Conversation roles must alternate user/assistant/user/assistant/...")
    }

    @Test func runtimeErrorsAreTyped() {
        let cases: [(String, String)] = [
            ("{{ x.y }}", "'x' is undefined"),  // jinja2: UndefinedError 'x' is undefined
            ("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str"),
            ("{{ x + 'a' }}", "'x' is undefined"),
            ("{{ none + 'a' }}", "unsupported operand type(s) for +: 'NoneType' and 'str'"),
            ("{{ 'a' < 1 }}", "'<' not supported between instances of 'str' and 'int'"),
            ("{{ x|tojson }}", "Object of type Undefined is not JSON serializable"),
            ("{{ foo() }}", "'foo' is undefined"),
            ("{{ [1].append(2) }}", "access to attribute 'append' of 'list' object is unsafe."),
            ("{{ 1|nosuchfilter }}", "No filter named 'nosuchfilter'."),
            ("{% set x = 1 %}{% set x.a = 2 %}", "cannot assign attribute on non-namespace object"),
        ]
        for (source, reason) in cases {
            let e = Self.error(source)
            #expect(e?.code == .templateError && e?.reason == reason, "\(source.debugDescription): \(String(describing: e))")
            #expect(e?.location.field?.hasPrefix("line 1, column") == true)
        }
    }

    /// Undefined values print as "" and are false; a missing key or index is undefined, but anything looked up
    /// on an undefined value is an error (jinja2's default Undefined).
    @Test func undefinedBehaviour() throws {
        #expect(try Self.render("[{{ x }}]{{ x is defined }}{{ x|length }}{% for i in x %}no{% endfor %}{% if not x %}!{% endif %}") == "[]False0!")
        #expect(try Self.render("{% set d = {'a': 1} %}[{{ d.b }}{{ d['b'] }}{{ [1][5] }}]{{ d.b is defined }}") == "[]False")
        #expect(Self.error("{% set d = {'a': 1} %}{{ d.b.c }}")?.reason == "'dict object' has no attribute 'b'")
    }

    @Test func namespacesThatContainThemselvesPrintAsPythonDoes() throws {
        #expect(try Self.render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}") == "<Namespace {'me': <Namespace {...}>}>")
    }

    @Test func hostileTemplatesStopWithALimit() {
        let small = ChatTemplate.Limits(maxOutputBytes: 1 << 16, maxLoopIterations: 10_000, maxCallDepth: 16, maxNesting: 50)
        let cases: [(String, String)] = [
            ("{% for i in range(10**12) %}x{% endfor %}", "Range too big"),
            ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "loop iterations"),
            ("{{ 'x' * 10**12 }}", "output would exceed"),
            ("{{ [1] * 10**12 }}", "output would exceed"),
            ("{% for i in range(100) %}{{ 'y' * 1000 }}{% endfor %}", "output would exceed"),
            ("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "macro calls nest deeper"),
            (String(repeating: "{% if true %}", count: 200), "nests deeper"),
            ("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}", "nests deeper"),
            ("{{ " + String(repeating: "-", count: 5000) + "1 }}", "nests deeper"),
            ("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}", "nests deeper"),
            ("{{ 2 ** 64 }}", "exceeds 64 bits"),
        ]
        for (source, fragment) in cases {
            do {
                let text = try ChatTemplate(source: source, limits: small).render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil)
                Issue.record("\(source.prefix(60).debugDescription) rendered \(text.utf8.count) bytes")
            } catch let e as BFFNError {
                #expect(e.code == .limitExceeded && e.reason.contains(fragment), "\(source.prefix(60).debugDescription): \(e)")
            } catch { Issue.record("\(error)") }
        }
    }

    @Test func strftimeNowUsesTheInjectedDate() throws {
        var t = try ChatTemplate(source: "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %-d %B %H:%M') }}")
        t.now = ChatTemplate.CivilTime(year: 2024, month: 7, day: 6, hour: 9, minute: 5)
        // Python: datetime(2024, 7, 6, 9, 5).strftime(...)
        #expect(try t.render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil) == "06 Jul 2024|Saturday 6 July 09:05")
        #expect(ChatTemplate.CivilTime(secondsSinceEpoch: 1_700_000_000) == ChatTemplate.CivilTime(year: 2023, month: 11, day: 14, hour: 22, minute: 13, second: 20))
    }

    /// transformers passes `tools=None` and `documents=None`: defined, and none.
    @Test func toolsAndDocumentsAreNoneWhenAbsent() throws {
        #expect(try Self.render("{{ tools is defined }}{{ tools is none }}{{ documents is none }}{{ bos_token is defined }}") == "TrueTrueTrueFalse")
    }

    @Test func extraVariablesMayNotReplaceTheContext() throws {
        let t = try ChatTemplate(source: "{{ enable_thinking }}")
        #expect(try t.render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil, extra: ["enable_thinking": false]) == "False")
        #expect(throws: BFFNError(.usage, "")) {
            _ = try t.render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil, extra: ["messages": []])
        }
    }
}
