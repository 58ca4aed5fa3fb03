import ArgumentParser
import BFFN
import BFFNCore
import BFFNEngine
import BFFNServer

/// `bffn serve MODEL`: the OpenAI-compatible local HTTP server (BFFNServer; docs/server.md).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over HTTP with the OpenAI API (chat and text completions, streamed or not).",
        discussion: """
        Endpoints: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true \
        answers with server-sent events ending in data: [DONE]) and GET /metrics (Prometheus text). The request's \
        model may name anything: this one model is served. Chats are rendered with the model's chat template \
        (chat_template.jinja or tokenizer_config.json), else in the published BlockFFN format <用户>…<AI>.

        --parallel N runs up to N generations at once: decoded together in the engine's shared forward calls (the \
        weights are read once per step for all of them), or with --speculative on N copies of the model (the \
        weights are mapped once by the system). Each request's tokens are the same whether it ran alone or beside \
        others. Requests \
        beyond that wait in a first-come queue of --max-queue; a request that finds the queue full gets 429 \
        (queue_full) at once, one that waits longer than --queue-timeout seconds 429 (queue_timeout). A client that \
        disconnects stops its generation at the next token and frees its slot. Bodies over 1 MiB get 413; prompts \
        that do not leave room in the context, or max_tokens beyond it, 400.

        At most --max-connections (256) connections are open at once: one more is closed as soon as it is \
        accepted, without an answer, so idle sockets cannot use up the file descriptors (the soft limit is raised \
        when the hard one allows; otherwise serve refuses to start). A connection that makes no progress for \
        --idle-timeout seconds (120) is closed: idle between requests, or a request whose head or body stopped \
        arriving. docs/openapi.json describes every endpoint, field and answer (OpenAPI 3.1).

        The server binds 127.0.0.1 unless --host says otherwise; --api-key KEY makes every endpoint but /health \
        require Authorization: Bearer KEY. SIGINT or SIGTERM stops it after the requests under way.

        Examples:
          bffn serve fixtures/trained --port 8080
          bffn serve model.bfpk --parallel 2 --api-key secret --speculative eagle
        """
    )

    @Argument(help: "A .bfpk pack or a checkpoint (folder, .safetensors, .bin or shard index), or ORG/NAME in the Hugging Face cache.", completion: .file())
    var model: String

    @Option(help: "The address to listen on (default: loopback only).")
    var host = "127.0.0.1"

    @Option(help: "The TCP port (0: any free port; the one chosen is printed).")
    var port = 8080

    @Option(help: "Generations run at once (decoded together; with --speculative, on this many copies of the model).")
    var parallel = 1

    @Option(help: "Requests that may wait for a slot; one more gets 429 at once.")
    var maxQueue = 64

    @Option(help: "Seconds a request may wait for a slot before it gets 429.")
    var queueTimeout = 60.0

    @Option(help: "Connections open at once; one more is closed at once, unanswered.")
    var maxConnections = 256

    @Option(help: "Seconds a connection may make no progress (idle, or a request half sent) before it is closed.")
    var idleTimeout = 120.0

    @Option(help: "Require Authorization: Bearer KEY on every endpoint but /health.")
    var apiKey: String?

    @Option(help: "The model id /v1/models lists and responses name (default: the model path's last component).")
    var modelName: String?

    @OptionGroup var running: ModelRunOptions

    // Optional, so that the default can be the CPUs shared among the slots.
    @Option(name: [.customShort("t"), .customLong("threads")],
            help: ArgumentHelp("Engine threads (default: the CPUs this process may run on; with --speculative, divided among the --parallel copies). Results never depend on it.", valueName: "n"))
    var threads: Int?

    func validate() throws {
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be 1...64") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard (0...100_000).contains(maxQueue) else { throw ValidationError("--max-queue must be 0...100000") }
        guard queueTimeout > 0 && queueTimeout <= 86_400 else { throw ValidationError("--queue-timeout must be in (0, 86400] seconds") }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be 1...1000000") }
        guard idleTimeout > 0 && idleTimeout <= 86_400 else { throw ValidationError("--idle-timeout must be in (0, 86400] seconds") }
        if let threads { guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") } }
        if let apiKey { guard !apiKey.isEmpty else { throw ValidationError("--api-key needs a non-empty key") } }
    }

    func run() throws {
        try runReportingErrors(json: false) {
            var c = ServerConfiguration(modelPath: model)
            c.host = host
            c.port = port
            c.parallel = parallel
            c.maxQueue = maxQueue
            c.queueTimeoutSeconds = queueTimeout
            c.maxConnections = maxConnections
            c.idleTimeoutSeconds = idleTimeout
            c.apiKey = apiKey
            c.modelName = modelName
            c.modelOptions = try running.modelOptions(threads: threads ?? WorkerPool.usableCPUs)
            // Copies of the model (speculative) share the CPUs; one batched model uses them all.
            if threads == nil && c.modelOptions.speculative != .none { c.modelOptions.threads = max(1, WorkerPool.usableCPUs / parallel) }
            FileHandleOutput.standardError("bffn: loading \(model) (\(parallel) slot\(parallel == 1 ? "" : "s"))\n")
            let server = try CompletionServer(configuration: c)
            let host = self.host, name = server.modelName, format = server.chatFormatName, context = server.contextLength
            try server.runUntilSignalled { port in
                FileHandleOutput.standardError("bffn: serving '\(name)' on http://\(host.contains(":") ? "[\(host)]" : host):\(port) (context \(context) tokens, chats: \(format))\n")
            }
        }
    }
}
