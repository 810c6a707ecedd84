import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1 that serves a key set like the frontend does. Tests swap
/// what it answers, count the requests it got, and can hold answers back until released.
final class JWKSServer: Sendable {
    struct Answer: Sendable {
        var status: HTTPResponseStatus = .ok
        var body: [UInt8] = []
        var headers: [(String, String)] = [("Content-Type", "application/json")]
    }

    private struct State {
        var answer = Answer()
        var requests = 0
        var paths: [String] = []
        var held = false
        var waiting: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    private let channel: any Channel
    let port: Int
    let usesTLS: Bool

    /// Starts a server; with `tls`, it speaks HTTPS with that server context.
    static func start(tls: NIOSSLContext? = nil) async throws -> JWKSServer {
        let box = Mutex<JWKSServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: box.withLock { $0! }))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let server = JWKSServer(channel: channel, usesTLS: tls != nil)
        box.withLock { $0 = server }
        return server
    }

    private init(channel: any Channel, usesTLS: Bool) {
        self.channel = channel
        self.usesTLS = usesTLS
        self.port = channel.localAddress!.port!
    }

    /// The URL of the key set on this server.
    var url: String { "\(usesTLS ? "https" : "http")://127.0.0.1:\(port)/.well-known/jwks.json" }

    func serve(_ body: String) {
        state.withLock { $0.answer = Answer(body: Array(body.utf8)) }
    }

    func answer(_ answer: Answer) {
        state.withLock { $0.answer = answer }
    }

    var requestCount: Int { state.withLock { $0.requests } }
    var requestedPaths: [String] { state.withLock { $0.paths } }

    /// Requests from now on get no answer until ``release()``.
    func hold() {
        state.withLock { $0.held = true }
    }

    /// Answers the held requests (with the answer current now) and stops holding.
    func release() {
        let waiting = state.withLock { state in
            state.held = false
            defer { state.waiting = [] }
            return state.waiting
        }
        for answer in waiting { answer() }
    }

    func shutdown() async throws {
        release()
        try await channel.close()
    }

    /// Counts a request and either hands back the answer, or holds `respond` for ``release()``.
    fileprivate func received(path: String, respond: @escaping @Sendable () -> Void) -> Answer? {
        state.withLock { state in
            state.requests += 1
            state.paths.append(path)
            guard !state.held else {
                state.waiting.append(respond)
                return nil
            }
            return state.answer
        }
    }

    fileprivate var currentAnswer: Answer { state.withLock { $0.answer } }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let server: JWKSServer
        private var path = ""

        init(server: JWKSServer) {
            self.server = server
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri
            case .body:
                break
            case .end:
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let server = self.server
                let respondLater: @Sendable () -> Void = {
                    bound.eventLoop.execute {
                        let (handler, context) = bound.value
                        handler.respond(context, server.currentAnswer)
                    }
                }
                if let answer = server.received(path: path, respond: respondLater) {
                    respond(context, answer)
                }
            }
        }

        private func respond(_ context: ChannelHandlerContext, _ answer: Answer) {
            var head = HTTPResponseHead(version: .http1_1, status: answer.status)
            for (name, value) in answer.headers { head.headers.add(name: name, value: value) }
            head.headers.add(name: "Content-Length", value: "\(answer.body.count)")
            head.headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
