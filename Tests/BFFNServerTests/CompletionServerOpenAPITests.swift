import BFFNCore
@testable import BFFNServer
import BFFNTestSupport
import Testing

/// docs/openapi.json (written by scripts/make-openapi.py) against the server: it parses, describes exactly the routes
/// the server's router registers, and each generation request schema names exactly the fields the parser reads.
@Suite("CompletionServer OpenAPI") struct CompletionServerOpenAPITests {
    static func document() throws -> JSONValue {
        try JSONValue.parse(String(decoding: Fixtures.bytes(Fixtures.repositoryRoot + "/docs/openapi.json"), as: UTF8.self))
    }

    @Test func theDescriptionListsExactlyTheRegisteredRoutes() async throws {
        let doc = try Self.document()
        #expect(doc["openapi"]?.stringValue?.hasPrefix("3.1.") == true)
        let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var described: [String] = []
        for path in try #require(doc["paths"]?.objectMembers) {
            for op in try #require(path.value.objectMembers) where methods.contains(op.key) {
                described.append("\(op.key.uppercased()) \(path.key)")
            }
        }
        _ = try await CompletionServerTests.main()
        let server = try #require(await ServerFixture.shared.server("main"))
        #expect(server.routes.count >= 5)
        #expect(described.sorted() == server.routes, "docs/openapi.json is out of step with the router: run scripts/make-openapi.py after describing the route there")
    }

    @Test(arguments: [CompletionRequest.Endpoint.chat, .completions])
    func requestSchemasNameTheFieldsTheParserReads(_ endpoint: CompletionRequest.Endpoint) throws {
        let doc = try Self.document()
        let schemas = try #require(doc["components"]?["schemas"])
        let request = try #require(schemas[endpoint == .chat ? "ChatCompletionRequest" : "CompletionRequest"])
        let read = CompletionRequest.fieldsRead(endpoint: endpoint)
        let topLevel = read.filter { !$0.contains(".") && !$0.contains("[") }
        let documented = try #require(request["properties"]?.objectMembers).map(\.key)
        #expect(topLevel.contains(endpoint == .chat ? "messages" : "prompt") && topLevel.contains("temperature"))
        #expect(Set(topLevel) == Set(documented), "read: \(topLevel.sorted()), documented: \(documented.sorted())")
        // Nested fields (stream_options.include_usage, messages[].content[].text...) are described where they live.
        for name in read where !topLevel.contains(name) {
            #expect(Self.describes(request, name, in: schemas), "\(name) is read but not described")
        }
    }

    /// Whether `schema` describes the field `name` (`a.b`, `a[].b`), following `$ref`s, `anyOf`/`oneOf` members and
    /// `items`.
    static func describes(_ schema: JSONValue, _ name: String, in schemas: JSONValue) -> Bool {
        var segments: [String] = []
        for part in name.split(separator: ".") {
            var p = Substring(part)
            var arrays = 0
            while p.hasSuffix("[]") { p = p.dropLast(2); arrays += 1 }
            segments.append(String(p))
            segments += Array(repeating: "[]", count: arrays)
        }
        var current = [schema]
        for segment in segments {
            current = current.flatMap { alternatives($0, in: schemas) }.compactMap { s in
                segment == "[]" ? s["items"] : s["properties"]?[segment]
            }
            if current.isEmpty { return false }
        }
        return true
    }

    /// The schema itself and what its `$ref`, `anyOf` and `oneOf` lead to.
    static func alternatives(_ schema: JSONValue, in schemas: JSONValue) -> [JSONValue] {
        var out = [schema]
        if let r = schema["$ref"]?.stringValue, let name = r.split(separator: "/").last, let target = schemas[String(name)] {
            out += alternatives(target, in: schemas)
        }
        for key in ["anyOf", "oneOf"] {
            for member in schema[key]?.arrayElements ?? [] { out += alternatives(member, in: schemas) }
        }
        return out
    }
}
