import BFFNCore
import NIOCore

/// `--max-connections`: admits a connection while fewer than `limit` are open and closes one beyond it as soon as it
/// is active, before a byte of it is read, so idle or hostile sockets cannot take all of the process's file
/// descriptors. A refused client sees its connection closed without an answer (an end of stream, or a reset if it had
/// already sent data); `bffn_connections_refused_total` counts it. One handler per connection.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let metrics: ServerMetrics
    let limit: Int
    /// Whether this connection was admitted; nil until decided (the pipeline may be built before or after the channel
    /// turns active).
    private var admitted: Bool?

    init(metrics: ServerMetrics, limit: Int) {
        self.metrics = metrics
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { _ = decide(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if decide(context) { context.fireChannelActive() }
    }

    /// Counts the connection in or closes it; false when it was refused.
    private func decide(_ context: ChannelHandlerContext) -> Bool {
        if let admitted { return admitted }
        let ok = metrics.admitConnection(limit: limit)
        admitted = ok
        if ok {
            let metrics = self.metrics
            context.channel.closeFuture.whenComplete { _ in metrics.connectionClosed() }
        } else {
            context.close(promise: nil)
        }
        return ok
    }
}

/// The file descriptors `--max-connections` needs: one per connection plus a reserve for the listening socket, model
/// files, logs and the runtime.
enum FileDescriptorLimit {
    /// Descriptors kept for everything but client connections.
    static let reserve = 64

    /// Checks that `maxConnections` connections fit in the descriptors this process may open, raising the soft limit
    /// (`OpenFileLimit`) when needed.
    /// - Throws: `BFFNError` `.usage` naming `max_connections` when the hard limit is too low.
    static func check(maxConnections: Int) throws {
        let needed = maxConnections + reserve
        guard let available = OpenFileLimit.raise(to: needed) else { return }
        guard available >= needed else {
            throw BFFNError(.usage, "--max-connections \(maxConnections) needs \(needed) file descriptors but this process may open \(available) (ulimit -n); lower --max-connections or raise the limit",
                            field: "max_connections")
        }
    }
}
