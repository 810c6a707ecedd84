import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// A minimal WebSocket client for the end-to-end tests (the simulator test target cannot import
/// WhatsAppLink): TLS trusting the simulator's CA file, the HTTP upgrade with an `Origin` header, binary
/// messages in and out, and the HTTP status of a refused upgrade.
final class TestWebSocket: Sendable {
    enum ConnectResult: Sendable {
        case upgraded(TestWebSocket)
        case refused(status: Int)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let channel: any Channel
    let inbox: MessageInbox

    private init(channel: any Channel, inbox: MessageInbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Connects to `url` (`ws://` or `wss://host:port/path`); TLS trusts the PEM file `caFile`.
    static func connect(
        url: String, caFile: String?, origin: String = "https://web.whatsapp.com", group: any EventLoopGroup
    ) async throws -> ConnectResult {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw Failure(description: "bad URL \(url)")
        }
        let tlsContext: NIOSSLContext?
        if components.scheme == "wss" {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile { configuration.trustRoots = .file(caFile) }
            tlsContext = try NIOSSLContext(configuration: configuration)
        } else {
            tlsContext = nil
        }
        let path = components.path.isEmpty ? "/" : components.path
        let isIP = host.allSatisfy { $0.isNumber || $0 == "." }
        let upgrade = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(120))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tlsContext, serverHostname: isIP ? nil : host))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: 1 << 24) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let inbox = MessageInbox(eventLoop: channel.eventLoop)
                            try channel.pipeline.syncOperations.addHandler(InboxHandler(inbox: inbox))
                            return .upgraded(TestWebSocket(channel: channel, inbox: inbox))
                        }
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    headers.add(name: "Origin", value: origin)
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    let configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                        upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                            upgradeRequestHead: head, upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.eventLoop.makeCompletedFuture {
                                    let promise = channel.eventLoop.makePromise(of: Int.self)
                                    try channel.pipeline.syncOperations.addHandler(StatusCatcher(promise: promise))
                                    return .refused(promise.futureResult)
                                }
                            }))
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: configuration)
                }
            }
        switch try await upgrade.get() {
        case .upgraded(let socket):
            return .upgraded(socket)
        case .refused(let status):
            return .refused(status: try await status.get())
        }
    }

    private enum Upgrade: Sendable {
        case upgraded(TestWebSocket)
        case refused(EventLoopFuture<Int>)
    }

    /// Sends one binary message.
    func send(_ bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: buffer)
        try await channel.writeAndFlush(frame)
    }

    /// The next binary message, nil once the connection closed; throws after `timeout` (a bound for a
    /// broken test, far beyond what a loaded machine needs).
    func receive(timeout: Duration = .seconds(120)) async throws -> [UInt8]? {
        try await inbox.next(timeout: timeout)
    }

    /// Starts the WebSocket close handshake (code 1000), as a companion leaving does; the peer's answering
    /// close frame ends the inbox.
    func sendClose() async throws {
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .normalClosure)
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data))
    }

    func close() async {
        try? await channel.close()
    }
}

/// Received binary messages, waited for with a deadline.
final class MessageInbox: Sendable {
    private struct State {
        var messages: [[UInt8]] = []
        var finished = false
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
        var waiterID: UInt64 = 0
    }
    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func push(_ message: [UInt8]) {
        let waiter: CheckedContinuation<[UInt8]?, any Error>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.messages.append(message)
            return nil
        }
        waiter?.resume(returning: message)
    }

    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    func next(timeout: Duration) async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            let (ready, id): (Result<[UInt8]?, any Error>?, UInt64) = state.withLock { state in
                if !state.messages.isEmpty { return (.success(state.messages.removeFirst()), 0) }
                if state.finished { return (.success(nil), 0) }
                guard state.waiter == nil else {
                    return (.failure(TestWebSocket.Failure(description: "two readers")), 0)
                }
                state.waiter = continuation
                state.waiterID += 1
                return (nil, state.waiterID)
            }
            if let ready {
                continuation.resume(with: ready)
                return
            }
            let (seconds, attoseconds) = timeout.components
            eventLoop.scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) {
                [weak self] in
                guard let self else { return }
                let waiter: CheckedContinuation<[UInt8]?, any Error>? = self.state.withLock { state in
                    guard state.waiterID == id else { return nil }
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(throwing: TestWebSocket.Failure(description: "timeout"))
            }
        }
    }
}

/// Collects binary messages (joining fragments) into the inbox; answers pings and the close handshake.
private final class InboxHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let inbox: MessageInbox
    private var partial: [UInt8]?

    init(inbox: MessageInbox) {
        self.inbox = inbox
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let payload = frame.unmaskedData
        let bytes = payload.getBytes(at: payload.readerIndex, length: payload.readableBytes) ?? []
        switch frame.opcode {
        case .binary:
            partial = bytes
        case .continuation:
            partial? += bytes
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: payload)),
                promise: nil)
            return
        case .connectionClose:
            inbox.finish()
            context.close(promise: nil)
            return
        default:
            return
        }
        if frame.fin, let message = partial {
            partial = nil
            inbox.push(message)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.finish()
        context.fireChannelInactive()
    }
}

/// Catches the status of a refused upgrade.
private final class StatusCatcher: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<Int>

    init(promise: EventLoopPromise<Int>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            promise.succeed(Int(head.status.code))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(TestWebSocket.Failure(description: "closed without a response"))
        context.fireChannelInactive()
    }
}
