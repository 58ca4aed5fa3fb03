import BFFNChatTemplate
import BFFNCore
import Testing

/// Feature by feature against Python's jinja2: each pair is a template and what jinja2 3.1.6 rendered for it
/// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson) with the
/// context of `FeatureTests.render`. The expected strings were produced by running jinja2, not written by hand.
@Suite("chat template features")
struct FeatureTests {
    static let messages: [JSONValue] = [
        .object([("role", "user"), ("content", " Hi \n")]),
        .object([("role", "assistant"), ("content", "Hello, wörld 😀")]),
    ]
    static let data = try! JSONValue.parse(#"{"name": "Zoë", "n": 3, "f": 1.5, "list": [1, "two", null, true, 2.25e-7], "nested": {"b": [], "a": {}}}"#)

    static func render(_ source: String) throws -> String {
        try ChatTemplate(source: source).render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>",
                                                extra: ["data": data])
    }

    static func check(_ cases: [(String, String)]) {
        for (source, expected) in cases {
            do {
                let text = try render(source)
                #expect(Array(text.utf8) == Array(expected.utf8), "\(source.debugDescription): \(text.debugDescription) != \(expected.debugDescription)")
            } catch {
                Issue.record("\(source.debugDescription) threw \(error)")
            }
        }
    }

    @Test func whitespaceControl() { Self.check(JinjaOutputs.whitespace) }
    @Test func loops() { Self.check(JinjaOutputs.loops) }
    @Test func expressions() { Self.check(JinjaOutputs.expressions) }
    @Test func filters() { Self.check(JinjaOutputs.filters) }
    @Test func methods() { Self.check(JinjaOutputs.methods) }
    @Test func tests() { Self.check(JinjaOutputs.tests) }
    @Test func macrosAndBlocks() { Self.check(JinjaOutputs.macros) }
}

/// What jinja2 rendered for each template (see `FeatureTests`).
enum JinjaOutputs {
    static let whitespace: [(String, String)] = [
        ("a  {%- if true %} b {% endif -%}  c", "a b c"),
        ("x\n  {% if true %}\n    y\n  {% endif %}\nz", "x\n    y\nz"),
        ("{{- '  a  ' -}}  \n  {{ 'b' }}  {{+ 'c' }}", "  a  b  c"),
        ("line\n    {# comment #}\nnext", "line\nnext"),
        ("  {%+ if true %}kept{% endif %}\n", "  kept"),
        ("{% raw %}{{ not parsed }}{% endraw %}\n!", "{{ not parsed }}!"),
        ("a\r\nb\rc\n\n", "a\nb\nc\n"),
        ("{{ 'x' }}\n   {{ 'y' }}", "x\n   y"),
    ]
    static let loops: [(String, String)] = [
        ("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }};{% endfor %}", "10TrueFalse221;21FalseTrue210;"),
        ("{% for x in [1,2,3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{% endfor %}", "<1>2|1<2>3|2<3>|"),
        ("{% for x in [] %}no{% else %}empty{% endfor %}", "empty"),
        ("{% for k, v in data.nested|items %}{{ k }}={{ v }};{% endfor %}", "b=[];a={};"),
        ("{% for x in range(10) if x is odd %}{{ x }}{% if loop.last %}!{% endif %}{% endfor %}", "13579!"),
        ("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", "0134"),
        ("{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}", "12121"),
        ("{% set ns = namespace(total=0) %}{% for i in range(5) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}", "10"),
        ("{% for a in 'ab' %}{% for b in [1,2] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}{% endfor %}", "1a1 2a2 11b1 2b2 2"),
        ("{% for x in [1,2,3] %}{{ loop.cycle('odd', 'even') }}{% endfor %}", "oddevenodd"),
        ("{% for m in messages if m.role == 'assistant' %}{{ m.content }}{% endfor %}", "Hello, wörld 😀"),
    ]
    static let expressions: [(String, String)] = [
        ("{{ 1 + 2 * 3 }} {{ 2 ** 3 ** 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }}", "7 64 3 -4 1 2 3.5 2.0"),
        ("{{ 'a' ~ 1 ~ none ~ true ~ 1.0 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ (1, 2) }} {{ (1,) }}", "a1NoneTrue1.0 ababab [1, 2] (1, 2) (1,)"),
        ("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 2 not in [1, 3] }} {{ 'x' in {'x': 1} }}", "True False True True True True"),
        ("{{ none }} {{ True }} {{ [1, 'a', None, 1.0, (1,), {'k': true}] }} {{ {'a': 'it\\'s', 'b': \"q\\\"\" } }}", "None True [1, 'a', None, 1.0, (1,), {'k': True}] {'a': \"it's\", 'b': 'q\"'}"),
        ("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.5e-7 }} {{ 2.5 }} {{ -0.0 }} {{ 10 / 3 }}", "0.30000000000000004 1e+16 1000000000000000.0 0.0001 1e-05 1.5e-07 2.5 -0.0 3.3333333333333335"),
        ("{{ 'a' if false else 'b' }}|{{ 'a' if false }}|{{ none or 'd' }}|{{ 0 and 1 }}|{{ not '' }}", "b||d|0|True"),
        ("{{ data.name }}{{ data['n'] }}{{ data.missing }}{{ data.list[1] }}{{ data.list[-1] }}{{ data.list[9] }}", "Zoë3two2.25e-07"),
        ("{{ data.list[1:3] }} {{ data.list[::-1] }} {{ 'hello'[1:] }} {{ 'hello'[::2] }} {{ 'hello'[-3:-1] }} {{ 'hello'[10:] }}", "['two', None] [2.25e-07, True, None, 'two', 1] ello hlo ll "),
        ("{{ \"esc\\ttab\\\\n\\x41\\u00e9\" }}", "esc\ttab\\nAé"),
        ("{{ 'a' 'b' }} {{ 0x1F }} {{ 1_000 }}", "ab 31 1000"),
        ("{{ messages[0]['content'].strip() ~ '|' ~ messages[1].content.split(',')[0] }}", "Hi|Hello"),
    ]
    static let filters: [(String, String)] = [
        ("{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hello World'|lower }}|{{ 'abc'|upper }}|{{ 'hello world-foo(bar'|title }}|{{ 'hELLO wORLD'|capitalize }}", "x|hi|hello world|ABC|Hello World-Foo(Bar|Hello world"),
        ("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ [1, 2, 2, 1]|unique|list }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }}", "[1, 2, 3] ['A', 'b', 'c'] [3, 2, 1] [1, 2] [2, 1] cba"),
        ("{{ [1, 2, 3]|join(', ') }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|list }} {{ [1, 2, 3]|length }} {{ 'héllo'|count }} {{ data|length }}", "1, 2, 3 1 3 ['a', 'b', 'c'] 3 5 5"),
        ("{{ '42'|int + 1 }} {{ '3.5'|float }} {{ 'x'|int }} {{ 3|float }} {{ 2.7|int }} {{ 1|string ~ 2 }} {{ none|string }}", "43 3.5 0 3.0 2 12 None"),
        ("{{ undefinedvar|default('dflt') }} {{ ''|default('empty', true) }} {{ 0|d('zero') }}", "dflt empty 0"),
        ("{{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ [1, 2, 3, 4]|select('even')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }}", "user,assistant 1 [2, 4] [2, 4]"),
        ("{{ messages|rejectattr('role', 'eq', 'user')|map(attribute='content')|first }} {{ ['a', 'b']|map('upper')|list }}", "Hello, wörld 😀 ['A', 'B']"),
        ("{{ 'a b  c'|replace(' ', '_') }} {{ 'line1\\nline2\\n\\nline3'|indent(2) }} {{ 'one two three'|wordcount }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ -3|abs }}", "a_b__c line1\n  line2\n\n  line3 3 2.57 2.0 3"),
        ("{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ '<a href=\"x\">&\\''|e }} {{ 'x'|center(7) }}|", "[[1, 2], [3, 4], [5]] &lt;a href=&#34;x&#34;&gt;&amp;&#39;    x   |"),
        ("{{ data|tojson }}", "{\"name\": \"Zoë\", \"n\": 3, \"f\": 1.5, \"list\": [1, \"two\", null, true, 2.25e-07], \"nested\": {\"b\": [], \"a\": {}}}"),
        ("{{ data|tojson(indent=4) }}", "{\n    \"name\": \"Zoë\",\n    \"n\": 3,\n    \"f\": 1.5,\n    \"list\": [\n        1,\n        \"two\",\n        null,\n        true,\n        2.25e-07\n    ],\n    \"nested\": {\n        \"b\": [],\n        \"a\": {}\n    }\n}"),
        ("{{ data.nested|tojson(indent=2, sort_keys=true) }} {{ data.list|tojson(separators=(',', ':')) }}", "{\n  \"a\": {},\n  \"b\": []\n} [1,\"two\",null,true,2.25e-07]"),
        ("{{ 'Zoë 😀 \"q\" \\\\ \\n\\t\\x01'|tojson }} {{ 'Zoë 😀'|tojson(ensure_ascii=true) }} {{ [1.0, 1e16, -0.0]|tojson }}", "\"Zoë 😀 \\\"q\\\" \\\\ \\n\\t\\u0001\" \"Zo\\u00eb \\ud83d\\ude00\" [1.0, 1e+16, -0.0]"),
    ]
    static let methods: [(String, String)] = [
        ("{{ '  x  '.strip() }}|{{ 'xxhixx'.lstrip('x') }}|{{ 'xxhixx'.rstrip('x') }}|{{ 'a b  c'.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}", "x|hixx|xxhi|['a', 'b', 'c']|['a', 'b', '', 'c']|['a', 'b,c']|['a,b', 'c']"),
        ("{{ 'hello'.startswith('he') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('lo') }} {{ 'they\\'re x_y 1st'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aXb'.upper() }}{{ 'aXb'.lower() }}", "True True True They'Re X_Y 1St Hello AXBaxb"),
        ("{{ 'a-b-c'.replace('-', '+', 1) }} {{ ', '.join(['x', 'y']) }} {{ '{} and {name}'.format(1, name='two') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }}", "a+b-c x, y 1 and two 2 3 2"),
        ("{{ data.get('name') }} {{ data.get('zz', 'def') }} {{ data.get('zz') }} {{ data.keys()|list }} {{ data.nested.values()|list }} {{ data.items()|list|length }}", "Zoë def None ['name', 'n', 'f', 'list', 'nested'] [[], {}] 5"),
        ("{{ '%s-%d-%5.2f|%-4s|' % ('a', 3, 3.14159, 'b') }} {{ 'x' in data.keys() }}", "a-3- 3.14|b   | False"),
    ]
    static let tests: [(String, String)] = [
        ("{{ x is defined }} {{ data is defined }} {{ data.zz is undefined }} {{ none is none }} {{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.5 is float }} {{ 'a' is string }}", "False True True True True True False True True"),
        ("{{ data is mapping }} {{ data.list is sequence }} {{ x is iterable }} {{ 'a' is iterable }} {{ 3 is iterable }} {{ 4 is even }} {{ 4 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(2) }}", "True True True True False True False True False"),
        ("{{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ false is boolean }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 'a' is in 'abc' }} {{ none is not none }}", "True True True False True False True True True True True False"),
    ]
    static let macros: [(String, String)] = [
        ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C') }} {{ greet() }}", "Hi A! Hi B? Hi C! Hi !"),
        ("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}", "[inside]"),
        ("{% macro rec(n) %}{{ n }}{% if n > 0 %}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(4) }}", "43210"),
        ("{% macro f() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, a=3) }}", "(1, 2){'a': 3}"),
        ("{% set block %}  multi {{ 1 + 1 }} {% endset %}[{{ block }}]", "[  multi 2 ]"),
        ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{% set c, d = t %}{{ c + d }}", "127"),
        ("{% filter upper %}shout {{ 'this' }}{% endfilter %}", "SHOUT THIS"),
        ("before {{ 1 }} after", "before 1 after"),
    ]
}
