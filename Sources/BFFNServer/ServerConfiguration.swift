import BFFN

/// How `bffn serve` listens, how many generations it runs at once and what it refuses (docs/server.md, "Limits").
public struct ServerConfiguration: Sendable {
    /// The model to serve: a .bfpk pack, a checkpoint, or ORG/NAME in the local Hugging Face cache.
    public var modelPath: String
    /// How each slot's model is opened (threads, memory budget, speculative drafter...).
    public var modelOptions = BlockFFNModel.Options()
    /// The address to bind; loopback unless told otherwise.
    public var host = "127.0.0.1"
    /// The TCP port (0: one the system picks, reported through `onListening`).
    public var port = 8080
    /// Generation slots: the model opened this many times, one generation each at a time.
    public var parallel = 1
    /// Requests that may wait for a slot; one more is refused with 429 `queue_full`.
    public var maxQueue = 64
    /// Seconds a request may wait for a slot before 429 `queue_timeout`.
    public var queueTimeoutSeconds = 60.0
    /// The largest request body accepted, in bytes (413 beyond).
    public var maxBodyBytes = 1 << 20
    /// Connections open at once; one beyond is closed as soon as it is accepted, without an answer (docs/server.md,
    /// "Limits"). 256 keeps the server's file descriptors well under the common limit of 1024 while serving far more
    /// clients than `parallel` slots and `maxQueue` waiters can use. 1...1_000_000.
    public var maxConnections = 256
    /// Seconds a connection may go without progress before the server closes it: no request begun since it opened or
    /// since its last answer, a request head not complete within that time, or a body that stops arriving for that
    /// long (half-sent requests). A request read in full is answered however long it waits or generates. In
    /// (0, 86400].
    public var idleTimeoutSeconds = 120.0
    /// When set, every endpoint but `/health` needs `Authorization: Bearer <apiKey>` (401 otherwise).
    public var apiKey: String?
    /// The model id `/v1/models` lists and responses name (nil: the model path's last component).
    public var modelName: String?

    /// A configuration with the defaults for `modelPath`.
    public init(modelPath: String) { self.modelPath = modelPath }

    /// The model id: `modelName`, or the path's last component without a `.bfpk` extension.
    public var servedModelName: String {
        if let modelName { return modelName }
        var last = modelPath.split(separator: "/").last.map(String.init) ?? modelPath
        if last.hasSuffix(".bfpk") { last.removeLast(5) }
        return last
    }
}
