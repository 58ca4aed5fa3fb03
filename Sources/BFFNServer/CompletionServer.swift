import BFFN
import BFFNChatTemplate
import BFFNCore
import Dispatch
import Hummingbird
import NIOCore
import Synchronization

/// `bffn serve`: the OpenAI-compatible HTTP server (docs/server.md).
///
/// `init` opens the model and finds its chat template. Without speculative decoding it is opened once, and the
/// `parallel` slots' sequences are decoded together in its shared forward calls (`BlockFFNModel.Options.parallelSequences`:
/// a request's tokens are those it gets alone); with a drafter it is opened once per slot (each instance maps the same
/// weights, so only the KV caches, drafters and work buffers are per slot). `run` serves until its task is cancelled, and
/// `runUntilSignalled` until SIGINT or SIGTERM. A request takes a slot for its whole generation, waiting in the
/// bounded queue of `SlotPool` when all are busy; each generation runs on a thread of its own, so the server's event
/// loops and Swift's task pool never wait on the engine.
public final class CompletionServer: Sendable {
    public let configuration: ServerConfiguration
    /// The model shared by every slot (batched), or one per slot (speculative), opened from the same path with the
    /// same options.
    let models: [BlockFFNModel]
    /// The model's chat template (`BlockFFNModel.chatTemplate`); nil: chats use the published BlockFFN format.
    var template: ChatTemplate? { models[0].chatTemplate }
    let pool: SlotPool
    /// What `/metrics` reports.
    public let metrics: ServerMetrics
    /// The id `/v1/models` lists.
    public let modelName: String
    /// Tokens the model can attend over (max_position_embeddings; 4096 when the config does not say).
    public let contextLength: Int
    let startTime: Int

    /// Opens the model (once, or once per slot with a drafter).
    /// - Throws: `BFFNError` `.usage` for limits out of range or a model without tokenizer; what opening the model
    ///   or reading its chat template throws.
    public init(configuration: ServerConfiguration) throws {
        guard (1...64).contains(configuration.parallel) else { throw BFFNError(.usage, "--parallel must be 1...64", field: "parallel") }
        guard (0...100_000).contains(configuration.maxQueue) else { throw BFFNError(.usage, "--max-queue must be 0...100000", field: "max_queue") }
        guard configuration.queueTimeoutSeconds > 0 && configuration.queueTimeoutSeconds <= 86_400 else {
            throw BFFNError(.usage, "--queue-timeout must be in (0, 86400] seconds", field: "queue_timeout")
        }
        guard (1...Int(Int32.max)).contains(configuration.maxBodyBytes) else { throw BFFNError(.usage, "the body limit must be 1 byte to 2 GiB", field: "max_body_bytes") }
        guard (0...65535).contains(configuration.port) else { throw BFFNError(.usage, "--port must be 0...65535", field: "port") }
        self.configuration = configuration
        var models: [BlockFFNModel] = []
        if configuration.modelOptions.speculative == .none {
            var options = configuration.modelOptions
            options.parallelSequences = configuration.parallel
            models.append(try BlockFFNModel(path: configuration.modelPath, options: options))
        } else {
            for _ in 0..<configuration.parallel { models.append(try BlockFFNModel(path: configuration.modelPath, options: configuration.modelOptions)) }
        }
        _ = try models[0].requireTokenizer()
        self.models = models
        if let e = models[0].chatTemplateError { throw e }
        let shared = models.count == 1 ? models[0] : nil
        metrics = ServerMetrics(slots: configuration.parallel, batchStatistics: { shared?.batchStatistics })
        pool = SlotPool(slots: configuration.parallel, maxQueue: configuration.maxQueue,
                        queueTimeout: .milliseconds(Int64(configuration.queueTimeoutSeconds * 1000)), metrics: metrics)
        modelName = configuration.servedModelName
        contextLength = models[0].config.maxPositionEmbeddings ?? 4096
        startTime = Int(time(nil))
    }

    /// Where chats are rendered: `template` (the model's chat template) or `miniCPM` (the published format).
    public var chatFormatName: String { template == nil ? "miniCPM" : "template" }

    /// Serves until the calling task is cancelled. `onListening` receives the bound port once the server accepts
    /// connections.
    /// - Throws: `BFFNError` `.usage` for connection limits out of range (`ServerConfiguration.maxConnections`,
    ///   `idleTimeoutSeconds`) or more connections than the process may open files; what binding the address throws.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        try await application(onListening: onListening).run()
    }

    /// Serves until SIGINT or SIGTERM (then finishes the requests under way), blocking the calling thread.
    /// - Throws: as `run`.
    public func runUntilSignalled(onListening: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        final class Outcome: Sendable { let error = Mutex<(any Error)?>(nil) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let app = try application(onListening: onListening)
        Task.detached {
            do { try await app.runService() } catch { outcome.error.withLock { $0 = error } }
            done.signal()
        }
        done.wait()
        if let error = outcome.error.withLock({ $0 }) { throw error }
    }

    /// The routes the server answers, `METHOD /path` sorted, read back from the router it serves: docs/openapi.json
    /// describes exactly these (BFFNServerTests checks it both ways).
    public var routes: [String] { makeRouter().routes.map { "\($0.method.rawValue) \($0.path)" }.sorted() }

    /// The router with every route and the middlewares (OpenAI error objects, the API key). A route added here must be
    /// described in docs/openapi.json (scripts/make-openapi.py).
    func makeRouter() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.middlewares.add(ErrorMiddleware(metrics: metrics))
        if let key = configuration.apiKey { router.middlewares.add(AuthMiddleware(key: key)) }
        router.get("/health") { _, _ in self.json(.object([("status", "ok"), ("slots", .integer(self.configuration.parallel))])) }
        router.get("/v1/models") { _, _ in
            self.json(.object([("object", "list"), ("data", .array([.object([("id", .string(self.modelName)), ("object", "model"),
                                                                              ("created", .integer(self.startTime)), ("owned_by", "bffn")])]))]))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.text)))
        }
        router.post("/v1/chat/completions") { request, context in try await self.complete(request, context: context, endpoint: .chat) }
        router.post("/v1/completions") { request, context in try await self.complete(request, context: context, endpoint: .completions) }
        return router
    }

    /// The Hummingbird application: the router behind HTTP/1.1 with the connection cap, the idle timeout and the
    /// hang-up detector on every connection.
    /// - Throws: `BFFNError` `.usage` as `run` says.
    func application(onListening: @escaping @Sendable (Int) -> Void) throws -> some ApplicationProtocol {
        let maxConnections = configuration.maxConnections
        guard (1...1_000_000).contains(maxConnections) else {
            throw BFFNError(.usage, "--max-connections must be 1...1000000", field: "max_connections")
        }
        let idle = configuration.idleTimeoutSeconds
        guard idle > 0 && idle <= 86_400 else { throw BFFNError(.usage, "--idle-timeout must be in (0, 86400] seconds", field: "idle_timeout") }
        try FileDescriptorLimit.check(maxConnections: maxConnections)
        let metrics = self.metrics
        // additionalChannelHandlers is an autoclosure: every connection gets handlers of its own.
        return Application(router: makeRouter(),
                           server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionLimitHandler(metrics: metrics, limit: maxConnections),
                                                                                           ClientGoneHandler()],
                                                               idleTimeout: .nanoseconds(Int64(idle * 1e9)))),
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "bffn/\(BFFNVersion.string)"),
                           onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) })
    }

    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.serialized(pretty: false))))
    }
}
