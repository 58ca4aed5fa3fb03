import BFFN
import BFFNCore
import BFFNServer
import BFFNTestSupport
import Synchronization

/// Servers on the bundled model, started in-process on ephemeral loopback ports, one per configuration and shared
/// by the tests that use it; they run until the test process ends.
actor ServerFixture {
    static let shared = ServerFixture()
    /// One start per name: tests that ask for the same server at once share its start (the actor is reentrant at
    /// the await, so checking a dictionary of ports alone let two tests start two servers under one name).
    private var starts: [String: Task<(port: Int, server: CompletionServer), any Error>] = [:]

    /// The port of a server configured by `configure` (started on first use under `name`).
    func port(_ name: String, _ configure: @escaping @Sendable (inout ServerConfiguration) -> Void = { _ in }) async throws -> Int {
        try await start(name, configure).port
    }

    func server(_ name: String) async -> CompletionServer? { try? await starts[name]?.value.server }

    private func start(_ name: String, _ configure: @escaping @Sendable (inout ServerConfiguration) -> Void) async throws -> (port: Int, server: CompletionServer) {
        if let started = starts[name] { return try await started.value }
        let task = Task<(port: Int, server: CompletionServer), any Error> {
            var c = ServerConfiguration(modelPath: Fixtures.trainedModel)
            c.port = 0
            c.modelOptions.threads = 1
            configure(&c)
            let server = try CompletionServer(configuration: c)
            let (bound, continuation) = AsyncStream.makeStream(of: Int.self)
            Task.detached { try await server.run { continuation.yield($0); continuation.finish() } }
            var port = 0
            for await p in bound { port = p }
            return (port, server)
        }
        starts[name] = task
        return try await task.value
    }
}
