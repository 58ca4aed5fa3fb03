import BFFNCore
import NIOCore
import NIOPosix

/// A minimal HTTP/1.1 client over a plain TCP connection, so the tests control every byte: malformed bodies,
/// half-sent requests, and connections closed mid-stream. Requests carry `Connection: close`; the reply is read
/// until the server closes.
enum RawHTTPClient {
    struct Reply {
        var status: Int
        var headers: [(String, String)]
        var body: String
        var json: JSONValue? { try? JSONValue.parse(body) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    static func connect(_ port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
    }

    /// The request's bytes: `method path`, `headers`, and `body` with its Content-Length.
    static func requestBytes(_ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:]) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    /// Sends one request and reads the whole reply.
    static func send(_ port: Int, _ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:]) async throws -> Reply {
        let channel = try await connect(port)
        let raw: [UInt8] = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: requestBytes(method, path, body: body, headers: headers)))
            var bytes: [UInt8] = []
            for try await chunk in inbound { bytes += chunk.readableBytesView }
            return bytes
        }
        return parse(raw)
    }

    static func post(_ port: Int, _ path: String, _ json: String, headers: [String: String] = [:]) async throws -> Reply {
        try await send(port, "POST", path, body: Array(json.utf8), headers: headers)
    }

    /// Sends a request, reads until `enough` bytes have come back (or the reply ends), then closes the connection.
    static func sendAndHangUp(_ port: Int, _ path: String, _ json: String, after enough: Int) async throws -> Int {
        let channel = try await connect(port)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: requestBytes("POST", path, body: Array(json.utf8))))
            guard enough > 0 else { return 0 }
            var count = 0
            for try await chunk in inbound {
                count += chunk.readableBytes
                if count >= enough { break }
            }
            return count
        }
    }

    /// Splits a reply into status, headers and body (de-chunking a chunked body).
    static func parse(_ raw: [UInt8]) -> Reply {
        let text = String(decoding: raw, as: UTF8.self)
        guard let split = text.firstRange(of: "\r\n\r\n") else { return Reply(status: 0, headers: [], body: text) }
        let lines = text[..<split.lowerBound].components("\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingSpaces)
        }
        var body = String(text[split.upperBound...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.contains("chunked") }) {
            var out = [UInt8](), rest = Array(body.utf8)[...]
            while let lineEnd = rest.firstRange(of: [13, 10]) {
                guard let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16), size > 0 else { break }
                let start = lineEnd.upperBound
                guard start + size <= rest.endIndex else { break }
                out += rest[start..<start + size]
                rest = rest[min(rest.endIndex, start + size + 2)...]
            }
            body = String(decoding: out, as: UTF8.self)
        }
        return Reply(status: status, headers: headers, body: body)
    }
}

extension StringProtocol {
    func components(_ separator: String) -> [String] {
        var out: [String] = [], rest = Substring(self)
        while let r = rest.firstRange(of: separator) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }

    var trimmingSpaces: String { String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
