import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Fetches an `https://` (or, in tests, loopback `http://`) key set with one HTTP/1.1 GET on a
/// fresh connection: the system trust store plus an optional extra CA, no redirects, a size cap
/// and one deadline for connecting, the TLS handshake and the whole response.
struct HTTPJWKSFetcher: JWKSFetching {
    let endpoint: JWKSLocation.HTTPEndpoint
    let group: any EventLoopGroup
    let timeout: Duration
    let maxSize: Int
    private let sslContext: NIOSSLContext?

    init(
        endpoint: JWKSLocation.HTTPEndpoint,
        caFile: String?,
        group: any EventLoopGroup,
        timeout: Duration,
        maxSize: Int
    ) throws(AuthError) {
        self.endpoint = endpoint
        self.group = group
        self.timeout = timeout
        self.maxSize = maxSize
        guard endpoint.usesTLS else {
            sslContext = nil
            return
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .default
        if let caFile {
            tls.additionalTrustRoots = [.file(caFile)]
        }
        do {
            sslContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw AuthError(.invalidConfiguration, "WALINK_JWKS_CA_FILE could not be loaded as PEM certificates")
        }
    }

    func fetch() async throws -> [UInt8] {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: [UInt8].self)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let head = requestHead()
        let hostIsIPLiteral = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) != nil
        let (sslContext, host, maxSize) = (self.sslContext, endpoint.host, self.maxSize)

        let connect = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let sslContext {
                        // SNI and name checks need a DNS name; for an IP literal NIOSSL checks the
                        // certificate's IP addresses against the peer's address instead.
                        try pipeline.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: hostIsIPLiteral ? nil : host)
                        )
                    }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(
                        JWKSResponseHandler(request: head, maxSize: maxSize, deadline: deadline, promise: promise)
                    )
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
        connect.whenFailure { promise.fail(JWKSFetchError("cannot connect to the key set host: \($0)")) }
        connect.whenSuccess { channel in
            promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        return try await promise.futureResult.get()
    }

    private func requestHead() -> HTTPRequestHead {
        var authority = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
        if endpoint.port != (endpoint.usesTLS ? 443 : 80) { authority += ":\(endpoint.port)" }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.target)
        head.headers.add(name: "Host", value: authority)
        head.headers.add(name: "Accept", value: "application/jwk-set+json, application/json")
        head.headers.add(name: "User-Agent", value: "walink")
        head.headers.add(name: "Connection", value: "close")
        return head
    }
}

/// Sends the GET once the connection is up and collects a `200` body of at most `maxSize` bytes.
/// Everything else (another status, a redirect, a too large body, the deadline, a closed
/// connection) fails the fetch. Lives on the channel's event loop.
private final class JWKSResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let maxSize: Int
    private let deadline: NIODeadline
    private let promise: EventLoopPromise<[UInt8]>
    private var body: [UInt8] = []
    private var finished = false
    private var timer: Scheduled<Void>?

    init(request: HTTPRequestHead, maxSize: Int, deadline: NIODeadline, promise: EventLoopPromise<[UInt8]>) {
        self.request = request
        self.maxSize = maxSize
        self.deadline = deadline
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.finish(context, .failure(JWKSFetchError.timedOut))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard head.status == .ok else {
                finish(context, .failure(JWKSFetchError("the key set host answered HTTP \(head.status.code)")))
                return
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxSize {
                finish(context, .failure(JWKSFetchError.tooLarge))
            }
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maxSize else {
                finish(context, .failure(JWKSFetchError.tooLarge))
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            finish(context, .success(body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, .failure(JWKSFetchError("the key set host closed the connection early")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(JWKSFetchError("the key set fetch failed: \(error)")))
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<[UInt8], any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
