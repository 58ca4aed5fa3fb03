#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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

    /// Raises the process's soft limit on open files (RLIMIT_NOFILE) to at least `needed` when the hard limit allows,
    /// and returns the soft limit then in force (Int.max when unlimited or unknown).
    static func ensure(_ needed: Int) -> Int {
        var limits = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limits) == 0 else { return Int.max }
        // RLIM_INFINITY is above Int.max on Linux and equal to it on Darwin.
        func value(_ v: rlim_t) -> Int { v >= rlim_t(Int.max) ? Int.max : Int(v) }
        if value(limits.rlim_cur) >= needed { return value(limits.rlim_cur) }
        var raised = limits
        raised.rlim_cur = value(limits.rlim_max) >= needed ? rlim_t(needed) : limits.rlim_max
        if setrlimit(resource, &raised) == 0 { return value(raised.rlim_cur) }
        return value(limits.rlim_cur)
    }

    /// Checks that `maxConnections` connections fit in the descriptors this process may open, raising the soft limit
    /// when needed.
    /// - Throws: `BFFNError` `.usage` naming `max_connections` when the hard limit is too low.
    static func check(maxConnections: Int) throws {
        let needed = maxConnections + reserve
        let available = ensure(needed)
        guard available >= needed else {
            throw BFFNError(.usage, "--max-connections \(maxConnections) needs \(needed) file descriptors but this process may open \(available) (ulimit -n); lower --max-connections or raise the limit",
                            field: "max_connections")
        }
    }
}
