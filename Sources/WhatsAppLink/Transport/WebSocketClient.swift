import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// A minimal WebSocket client for binary protocols, over TLS (`wss://`) or plain TCP (`ws://`).
///
/// ```swift
/// let connection = try await WebSocketClient.connect(
///     configuration: WebSocketClientConfiguration(url: URL(string: "ws://127.0.0.1:8080/ws/chat")!),
///     eventLoopGroup: group, logger: logger)
/// try await connection.send([0x01, 0x02])
/// for try await message in connection.messages { ... }   // binary messages, in order
/// await connection.close()
/// ```
///
/// Only binary messages are delivered (text messages are dropped with a warning), fragmented messages are
/// joined, pings are answered, and the close handshake is run in both directions. The peer cannot make the
/// client buffer more than about two messages: reading from the socket pauses until the consumer catches up.
public enum WebSocketClient {
    /// Opens a connection: TCP, TLS for `wss://` (system trust store plus the configuration's extra CA,
    /// SNI and hostname or IP verification), then the HTTP/1.1 upgrade with the configuration's headers.
    /// Everything together is bounded by ``WebSocketClientConfiguration/connectTimeout``. Cancelling the
    /// calling task abandons the attempt and throws ``WebSocketError/Code/cancelled``.
    public static func connect(
        configuration: WebSocketClientConfiguration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws(WebSocketError) -> WebSocketConnection {
        let target = try WebSocketTarget(configuration.url)
        let tlsContext: NIOSSLContext?
        if target.usesTLS, let given = configuration.tlsContext {
            tlsContext = given
        } else if target.usesTLS {
            tlsContext = try WebSocketTLS.sharedContext(extraCAFile: configuration.extraCAFile)
        } else {
            tlsContext = nil
        }
        let attempt = ConnectAttempt()
        let timeout = TimeAmount(configuration.connectTimeout)
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)

        do throws(any Error) {
            return try await withTaskCancellationHandler {
                let upgrade = try await bootstrap.connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try configurePipeline(
                            channel: channel, target: target, tlsContext: tlsContext, configuration: configuration,
                            attempt: attempt, timeout: timeout, logger: logger)
                    }
                }
                switch try await upgrade.get() {
                case .upgraded(let connection):
                    attempt.finished()
                    return connection
                case .notUpgraded(let channel):
                    try? await channel.close()
                    throw WebSocketError(.upgradeRejected)
                }
            } onCancel: {
                attempt.cancel()
            }
        } catch {
            if attempt.wasCancelled { throw WebSocketError(.cancelled) }
            if attempt.timedOut { throw WebSocketError(.timeout) }
            throw translateConnectError(error)
        }
    }

    private enum UpgradeResult: Sendable {
        case upgraded(WebSocketConnection)
        case notUpgraded(any Channel)
    }

    /// Runs on the channel's event loop as soon as the TCP connection is up.
    private static func configurePipeline(
        channel: any Channel, target: WebSocketTarget, tlsContext: NIOSSLContext?,
        configuration: WebSocketClientConfiguration, attempt: ConnectAttempt, timeout: TimeAmount, logger: Logger
    ) throws -> EventLoopFuture<UpgradeResult> {
        guard attempt.register(channel) else { throw WebSocketError(.cancelled) }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            attempt.timeOut()
        }
        if let tlsContext {
            let handler = try NIOSSLClientHandler(
                context: tlsContext, serverHostname: target.hostIsIPAddress ? nil : target.host)
            try channel.pipeline.syncOperations.addHandler(handler)
        }

        let maximumMessageSize = configuration.maximumMessageSize
        let closeTimeout = TimeAmount(configuration.closeTimeout)
        let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeResult>(
            maxFrameSize: maximumMessageSize,
            enableAutomaticErrorHandling: true
        ) { channel, _ in
            channel.eventLoop.makeCompletedFuture {
                .upgraded(
                    try installMessageHandler(
                        channel: channel, maximumMessageSize: maximumMessageSize, closeTimeout: closeTimeout,
                        logger: logger))
            }
        }

        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.hostHeader)
        headers.add(contentsOf: configuration.headers)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.requestURI, headers: headers)
        var pipelineConfiguration = NIOUpgradableHTTPClientPipelineConfiguration(
            upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
                upgradeRequestHead: head,
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeSucceededFuture(.notUpgraded(channel))
                }
            )
        )
        // A server may put its first frame in the same packet as the 101 response; keep those bytes.
        pipelineConfiguration.leftOverBytesStrategy = .forwardBytes
        let result = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
            configuration: pipelineConfiguration)
        result.whenComplete { _ in deadline.cancel() }
        return result
    }

    private static func installMessageHandler(
        channel: any Channel, maximumMessageSize: Int, closeTimeout: TimeAmount, logger: Logger
    ) throws -> WebSocketConnection {
        let handler = WebSocketMessageHandler(closeTimeout: closeTimeout, logger: logger)
        let loopBound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        let sequence = WebSocketMessageHandler.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2),
            finishOnDeinit: false,
            delegate: WebSocketMessageHandler.Delegate(handler: loopBound)
        )
        handler.attach(source: sequence.source)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                maxAccumulatedFrameSize: maximumMessageSize))
        try sync.addHandler(handler)
        return WebSocketConnection(
            channel: channel, handler: loopBound, messages: WebSocketMessages(producer: sequence.sequence))
    }

    private static func translateConnectError(_ error: any Error) -> WebSocketError {
        switch error {
        case let error as WebSocketError: return error
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError: return WebSocketError(.tlsFailure, detail: "\(error)")
        case is ChannelError:
            if case .connectTimeout = error as? ChannelError { return WebSocketError(.timeout) }
            return WebSocketError(.connectFailed, detail: "\(error)")
        case is NIOHTTPClientUpgradeError, is HTTPParserError:
            return WebSocketError(.upgradeRejected, detail: "\(error)")
        default:
            return WebSocketError(.connectFailed, detail: "\(error)")
        }
    }
}

/// State shared by a connect attempt, its timeout and its cancellation handler.
private final class ConnectAttempt: Sendable {
    private struct State {
        var channel: (any Channel)?
        var cancelled = false
        var timedOut = false
        var finished = false
    }
    private let state = Mutex(State())

    var wasCancelled: Bool { state.withLock { $0.cancelled } }
    var timedOut: Bool { state.withLock { $0.timedOut } }

    /// False if the attempt was cancelled before the channel came up.
    func register(_ channel: any Channel) -> Bool {
        state.withLock { state in
            state.channel = channel
            return !state.cancelled
        }
    }

    func cancel() {
        let channel: (any Channel)? = state.withLock { state in
            guard !state.finished else { return nil }
            state.cancelled = true
            return state.channel
        }
        channel?.close(promise: nil)
    }

    func timeOut() {
        let channel: (any Channel)? = state.withLock { state in
            guard !state.finished else { return nil }
            state.timedOut = true
            return state.channel
        }
        channel?.close(promise: nil)
    }

    func finished() {
        state.withLock { $0.finished = true }
    }
}

/// An open WebSocket connection from ``WebSocketClient/connect(configuration:eventLoopGroup:logger:)``.
///
/// ``send(_:)`` may be called from any task. ``messages`` is one stream: however often it is asked for,
/// every iteration continues where the previous one stopped, and only one task may wait for a message at
/// a time. Always end with ``close()``; dropping the last reference also closes the socket, without the
/// close handshake.
public final class WebSocketConnection: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<WebSocketMessageHandler>

    /// The binary messages received, in order. The sequence ends when the connection closes cleanly (the
    /// peer's close frame, or ours) and throws ``WebSocketError`` when it breaks. Cancelling a task that
    /// waits for a message ends the stream and closes the connection.
    public let messages: WebSocketMessages

    init(channel: any Channel, handler: NIOLoopBound<WebSocketMessageHandler>, messages: WebSocketMessages) {
        self.channel = channel
        self.handler = handler
        self.messages = messages
    }

    deinit {
        channel.close(promise: nil)
    }

    /// Sends one binary message (masked, as a client must) and waits until it is handed to the socket.
    /// Throws ``WebSocketError/Code/connectionClosed`` once the connection is closing or closed.
    public func send(_ message: [UInt8]) async throws(WebSocketError) {
        do {
            try await enqueue(message).get()
        } catch {
            throw WebSocketMessageHandler.translate(error)
        }
    }

    /// Sends a close frame (status 1000) if none was exchanged yet, waits for the peer's close frame for at
    /// most the configured close timeout, then closes the socket. Safe to call more than once and
    /// concurrently; returns when the socket is closed.
    public func close() async {
        let handler = self.handler
        handler.eventLoop.execute {
            handler.value.initiateClose(code: .normalClosure)
        }
        try? await channel.closeFuture.get()
    }

    /// Queues one binary message on the channel without waiting: messages queued from any thread go out in
    /// the order of the calls (the Noise layer relies on it for its nonce order).
    func enqueue(_ message: [UInt8]) -> EventLoopFuture<Void> {
        let frame = WebSocketFrame(
            fin: true, opcode: .binary, maskKey: .random(), data: channel.allocator.buffer(bytes: message))
        return channel.writeAndFlush(frame)
    }

    /// Closes the socket at once, without the close handshake (for timeouts and protocol failures).
    func abort() {
        channel.close(promise: nil)
    }

    /// Runs `body` on the connection's event loop after `delay`, unless cancelled first.
    func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        channel.eventLoop.scheduleTask(in: TimeAmount(delay), body)
    }

    /// The status code of the peer's close frame, if one arrived.
    public var peerCloseCode: UInt16? {
        get async {
            let handler = self.handler
            let code = try? await handler.eventLoop.submit { () -> UInt16? in
                handler.value.peerCloseCode.map { UInt16(webSocketErrorCode: $0) }
            }.get()
            return code ?? nil
        }
    }

    /// Whether the socket is still open.
    public var isActive: Bool { channel.isActive }
}

/// The binary messages of a ``WebSocketConnection``: an `AsyncSequence` of `[UInt8]` that throws
/// ``WebSocketError``. All iterators share one underlying stream; only one may wait at a time.
public struct WebSocketMessages: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error

    private let receiver: MessageReceiver

    init(producer: WebSocketMessageHandler.Producer) {
        receiver = MessageReceiver(producer: producer)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(receiver: receiver)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = [UInt8]
        private let receiver: MessageReceiver

        init(receiver: MessageReceiver) {
            self.receiver = receiver
        }

        /// The next message, nil at a clean end; throws ``WebSocketError`` (or `CancellationError` when the
        /// waiting task is cancelled).
        public mutating func next() async throws -> [UInt8]? {
            try await receiver.next()
        }
    }
}

/// The one iterator of a connection's message producer, shared by every ``WebSocketMessages`` iterator so
/// that a handshake and the reader after it continue the same stream.
///
/// `@unchecked Sendable`: `iterator` is only read and written inside ``next()``, and the `busy` flag turns
/// two overlapping calls into a precondition failure instead of a data race.
final class MessageReceiver: @unchecked Sendable {
    private var iterator: WebSocketMessageHandler.Producer.AsyncIterator?
    private let busy = Atomic<Bool>(false)

    init(producer: WebSocketMessageHandler.Producer) {
        iterator = producer.makeAsyncIterator()
    }

    func next() async throws -> [UInt8]? {
        precondition(
            busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged,
            "WebSocketMessages: only one task may wait for a message at a time")
        defer { busy.store(false, ordering: .releasing) }
        guard let iterator else { return nil }
        do {
            guard let message = try await iterator.next() else {
                self.iterator = nil
                return nil
            }
            return message
        } catch let error as WebSocketError {
            self.iterator = nil
            throw error
        } catch is CancellationError {
            self.iterator = nil
            throw CancellationError()
        } catch {
            self.iterator = nil
            throw WebSocketMessageHandler.translate(error)
        }
    }
}
