import BFFN
import BFFNCore
@testable import BFFNServer
import BFFNTestSupport
import NIOCore
import NIOPosix
import Testing

/// The connection limits: `maxConnections` closes a connection beyond the cap at once and admits again once
/// connections close; `idleTimeoutSeconds` closes half-sent requests but never a request that was read in full.
@Suite("CompletionServer limits") struct CompletionServerLimitTests {
    /// A plain TCP connection to the server, with no handlers: bytes written go out as they are, replies are dropped.
    static func open(_ port: Int) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
    }

    /// Seconds from `start` (default: now) until the server closed `channel`, or nil if it is still open `limit` seconds after `start`.
    static func secondsUntilClosed(_ channel: any Channel, since start: ContinuousClock.Instant = .now, limit: Double) async throws -> Double? {
        while channel.isActive {
            if ContinuousClock.now - start > .seconds(limit) { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// The value of an unlabelled metric.
    static func metric(_ server: CompletionServer, _ name: String) -> Int {
        Int(server.metrics.text.components("\n").first { $0.hasPrefix(name + " ") }?.dropFirst(name.count + 1) ?? "") ?? -1
    }

    static func waitFor(_ server: CompletionServer, _ name: String, _ value: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while metric(server, name) != value {
            guard ContinuousClock.now < deadline else {
                Issue.record("\(name) stayed \(metric(server, name)), not \(value)", sourceLocation: sourceLocation)
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func aConnectionBeyondTheCapIsClosedAtOnce() async throws {
        let port = try await ServerFixture.shared.port("cap3") { $0.maxConnections = 3 }
        let server = try #require(await ServerFixture.shared.server("cap3"))
        var idle: [any Channel] = []
        for _ in 0..<3 { idle.append(try await Self.open(port)) }
        try await Self.waitFor(server, "bffn_connections", 3)
        // The fourth is accepted by the kernel and closed by the server without a byte read or written.
        let extra = try await Self.open(port)
        try? await extra.writeAndFlush(ByteBuffer(bytes: RawHTTPClient.requestBytes("GET", "/health")))
        #expect(try await Self.secondsUntilClosed(extra, limit: 20) != nil, "the connection beyond the cap stayed open")
        #expect(Self.metric(server, "bffn_connections_refused_total") == 1)
        #expect(Self.metric(server, "bffn_connections") == 3)
        // Once the idle ones close, connections are admitted again.
        for c in idle { try await c.close() }
        try await Self.waitFor(server, "bffn_connections", 0)
        #expect(try await RawHTTPClient.send(port, "GET", "/health").status == 200)
        #expect(try await RawHTTPClient.post(port, "/v1/completions", #"{"prompt": "x", "max_tokens": 2}"#).status == 200)
        try await Self.waitFor(server, "bffn_connections", 0)
    }

    @Test func halfSentRequestsAreClosedButAReadRequestMayWait() async throws {
        let port = try await ServerFixture.shared.port("idle") { $0.idleTimeoutSeconds = 0.5; $0.maxQueue = 1; $0.queueTimeoutSeconds = 600 }
        let server = try #require(await ServerFixture.shared.server("idle"))
        // A connection that sends nothing, a head cut short, a body that stops: each closed after about 0.5 s.
        let partial = ["", "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Len",
                       "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\": "]
        for text in partial {
            // Timed from before the connection is opened: the server's idle timer starts after that (at its accept,
            // or when it reads the bytes), so however slowly this test runs, a timeout kept is at least 0.5 s here.
            let opened = ContinuousClock.now
            let c = try await Self.open(port)
            // On a loaded machine the server's 0.5 s may pass before this write: the channel is then already closed,
            // which is what is being tested, so a failed write is not an error here.
            if !text.isEmpty { try? await c.writeAndFlush(ByteBuffer(string: text)) }
            let closed = try await Self.secondsUntilClosed(c, since: opened, limit: 30)
            #expect(closed != nil && closed! >= 0.4, "\(text.debugDescription): closed after \(closed ?? -1) s")
            if closed == nil { try? await c.close() }
        }
        // A head sent a byte every 0.1 s never completes a part, so it does not hold the connection open either.
        let dribble = try await Self.open(port)
        let start = ContinuousClock.now
        for byte in "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: ".utf8 {
            guard dribble.isActive else { break }
            try? await dribble.writeAndFlush(ByteBuffer(bytes: [byte]))
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!dribble.isActive && ContinuousClock.now - start < .seconds(5), "a dribbled head kept its connection")
        try? await dribble.close()
        // A request read in full waits for a slot three times as long as the timeout and is answered.
        let slot = try await server.pool.acquire()
        // On a loaded machine the client may write its request more than the 0.5 s timeout after the server accepted
        // the connection, which the server then closes unread (as it should): such an attempt fails before it is
        // queued and is made again. Once the queue holds it, the request was read in full and must be answered.
        var waiter: Task<RawHTTPClient.Reply, Error>
        var attempts = 0
        repeat {
            attempts += 1
            let failure = FailureFlag()
            waiter = Task {
                do { return try await RawHTTPClient.post(port, "/v1/completions", #"{"prompt": "x", "max_tokens": 2}"#) } catch {
                    await failure.set()
                    throw error
                }
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while !server.metrics.text.contains("bffn_queue_length 1"), ContinuousClock.now < deadline, !(await failure.failed) {
                try await Task.sleep(for: .milliseconds(5))
            }
        } while !server.metrics.text.contains("bffn_queue_length 1") && attempts < 5
        try await CompletionServerTests.waitFor(server, "bffn_queue_length 1")
        try await Task.sleep(for: .milliseconds(1500))
        await server.pool.release(slot)
        #expect(try await waiter.value.status == 200)
        // No half-sent request was counted as a server error.
        #expect(!server.metrics.text.contains("status=\"5"), "\(server.metrics.text)")
        try await Self.waitFor(server, "bffn_connections", 0)
    }

    @Test func limitsOutOfRangeAreUsageErrors() async throws {
        var c = ServerConfiguration(modelPath: Fixtures.trainedModel)
        c.modelOptions.threads = 1
        c.port = 0
        for (connections, idle) in [(0, 120.0), (1_000_001, 120), (256, 0), (256, 86_401)] {
            c.maxConnections = connections
            c.idleTimeoutSeconds = idle
            let server = try CompletionServer(configuration: c)
            await #expect(throws: BFFNError.self) { try await server.run() }
        }
        // A cap beyond the hard limit on open files cannot be met: serve refuses to start.
        if let hard = OpenFileLimit.current?.hard, hard < 1_000_000 {
            #expect(throws: BFFNError.self) { try FileDescriptorLimit.check(maxConnections: hard) }
        }
        #expect(throws: Never.self) { try FileDescriptorLimit.check(maxConnections: 256) }
    }
}

/// Set when a request task fails.
actor FailureFlag {
    private(set) var failed = false
    func set() { failed = true }
}
