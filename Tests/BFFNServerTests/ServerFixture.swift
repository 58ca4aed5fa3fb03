import BFFN
import BFFNCore
import BFFNServer
import BFFNTestSupport
import Synchronization

/// Servers on the bundled model, started in-process on ephemeral loopback ports, one per configuration and shared
/// by the tests that use it; they run until the test process ends.
actor ServerFixture {
    static let shared = ServerFixture()
    private var ports: [String: Int] = [:]
    private var servers: [String: CompletionServer] = [:]

    /// The port of a server configured by `configure` (started on first use under `name`).
    func port(_ name: String, _ configure: @Sendable (inout ServerConfiguration) -> Void = { _ in }) async throws -> Int {
        if let p = ports[name] { return p }
        var c = ServerConfiguration(modelPath: Fixtures.trainedModel)
        c.port = 0
        c.modelOptions.threads = 1
        configure(&c)
        let server = try CompletionServer(configuration: c)
        let (bound, continuation) = AsyncStream.makeStream(of: Int.self)
        Task.detached { try await server.run { continuation.yield($0); continuation.finish() } }
        var port = 0
        for await p in bound { port = p }
        ports[name] = port
        servers[name] = server
        return port
    }

    func server(_ name: String) -> CompletionServer? { servers[name] }
}
