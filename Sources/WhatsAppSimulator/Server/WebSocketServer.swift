import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// The WhatsApp listener: TLS (optional), HTTP/1.1, and a WebSocket upgrade on `/ws/chat` for requests
/// from `Origin: https://web.whatsapp.com` only. Other requests get 403 (wrong origin) or 404.
enum WebSocketServer {
    static let path = "/ws/chat"
    static let origin = "https://web.whatsapp.com"
    private static let rejectHandlerName = "walink-simulator-reject"

    static func bind(
        core: SimulatorCore, tls: NIOSSLContext?, group: any EventLoopGroup, host: String, port: Int
    ) async throws -> any Channel {
        let maxMessageSize = core.configuration.maxMessageSize
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel, core: core, tls: tls, maxMessageSize: maxMessageSize)
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    private static func configure(
        _ channel: any Channel, core: SimulatorCore, tls: NIOSSLContext?, maxMessageSize: Int
    ) throws {
        let pipeline = channel.pipeline.syncOperations
        if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxMessageSize, automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                channel.eventLoop.makeSucceededFuture(accepts(head) ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(core: core, id: core.nextConnectionID()))
                }
            })
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.removeHandler(name: rejectHandlerName, promise: nil)
                }
            ))
        try pipeline.addHandler(RejectHandler(), name: rejectHandlerName)
    }

    /// A WebSocket request for the chat path from WhatsApp Web's origin.
    static func accepts(_ head: HTTPRequestHead) -> Bool {
        path(of: head.uri) == path && head.headers["Origin"].first == origin
    }

    static func path(of uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }
}

/// Answers a request that was not upgraded: 403 on the chat path (wrong origin or no upgrade), 404
/// elsewhere; then closes.
private final class RejectHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var status: HTTPResponseStatus = .notFound
    private var version = HTTPVersion.http1_1

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            version = head.version
            status = WebSocketServer.path(of: head.uri) == WebSocketServer.path ? .forbidden : .notFound
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        }
    }
}
