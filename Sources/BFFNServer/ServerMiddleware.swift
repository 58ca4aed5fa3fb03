import Hummingbird
import NIOCore

/// The request context of bffn's routes: Hummingbird's core storage plus the connection, so that a generation can
/// see that its client has gone.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Turns every error a route throws into an OpenAI-shaped error response, and counts the generation endpoints'
/// responses by status.
struct ErrorMiddleware: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let counted = request.method == .post && request.uri.path.hasPrefix("/v1/")
        do {
            let response = try await next(request, context)
            if counted { metrics.response(status: Int(response.status.code)) }
            return response
        } catch {
            let e = APIError.from(error)
            if counted { metrics.response(status: e.status) }
            return e.response
        }
    }
}

/// `--api-key`: every path but `/health` needs `Authorization: Bearer KEY`. The path is compared as the router reads
/// it, empty segments ignored, so `/health/` is exempt as it reaches the same route.
struct AuthMiddleware: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        if request.uri.path.split(separator: "/") == ["health"] { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        guard Self.equalInConstantTime(Array(given.utf8), Array("Bearer \(key)".utf8)) else {
            throw APIError(status: 401, message: given.isEmpty ? "this server needs an API key: Authorization: Bearer KEY" : "invalid API key",
                           type: "authentication_error", code: "invalid_api_key")
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so the time taken does not tell how much of a key matched.
    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) { diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return diff == 0
    }
}

/// Closes a connection whose client has closed its side. The server allows half-closed connections, so without this
/// a client that went away would be noticed only at the next write; with it, the connection's channel turns
/// inactive at once and the generation it asked for stops at its next token.
final class ClientGoneHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
