import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import WhatsAppProtocol

/// Where and how a ``WhatsAppConnection`` connects.
public struct WhatsAppConnectionConfiguration: Sendable {
    /// WhatsApp Web's chat socket, `wss://web.whatsapp.com/ws/chat`.
    public static let defaultURL = URL(string: "wss://web.whatsapp.com/ws/chat")!
    /// The `Origin` header WhatsApp requires (spec 1.1).
    public static let origin = "https://web.whatsapp.com"

    /// The chat socket URL; `ws://` for a plain-TCP test server.
    public var url: URL
    /// An optional `User-Agent` header.
    public var userAgent: String?
    /// PEM file of CA certificates trusted besides the system store (a simulator's self-signed CA).
    public var extraCAFile: String?
    /// A ready TLS context instead of the process-wide shared one (see ``WebSocketTLS``).
    public var tlsContext: NIOSSLContext?
    /// The raw 32-byte Curve25519 key that must sign the server's intermediate certificate; WhatsApp's real
    /// root by default, a simulator's own root in tests.
    public var rootPublicKey: [UInt8]
    /// How long TCP, TLS and the WebSocket upgrade may take together.
    public var connectTimeout: Duration
    /// How long the Noise handshake may take once the WebSocket is open (whatsmeow: 20 s for ServerHello).
    public var handshakeTimeout: Duration
    /// How long ``WhatsAppConnection/close()`` waits for the server's WebSocket close frame.
    public var closeTimeout: Duration
    /// The longest frame accepted from the server (at most ``FrameFormat/maximumLength``).
    public var maximumFrameLength: Int
    /// The intro header sent in front of the first frame.
    public var introHeader: IntroHeader

    public init(
        url: URL = WhatsAppConnectionConfiguration.defaultURL,
        userAgent: String? = nil,
        extraCAFile: String? = nil,
        tlsContext: NIOSSLContext? = nil,
        rootPublicKey: [UInt8] = ServerCertificateVerifier.whatsAppRootPublicKey,
        connectTimeout: Duration = .seconds(20),
        handshakeTimeout: Duration = .seconds(20),
        closeTimeout: Duration = .seconds(2),
        maximumFrameLength: Int = FrameFormat.maximumLength,
        introHeader: IntroHeader = .standard
    ) {
        self.url = url
        self.userAgent = userAgent
        self.extraCAFile = extraCAFile
        self.tlsContext = tlsContext
        self.rootPublicKey = rootPublicKey
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.closeTimeout = closeTimeout
        self.maximumFrameLength = maximumFrameLength
        self.introHeader = introHeader
    }

    /// The WebSocket side: WhatsApp's headers (`Origin`, `Cache-Control: no-cache`, `Pragma: no-cache`, the
    /// optional `User-Agent`) and a message limit that fits the largest frame.
    public var webSocketConfiguration: WebSocketClientConfiguration {
        var headers = HTTPHeaders()
        headers.add(name: "Origin", value: Self.origin)
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "Pragma", value: "no-cache")
        if let userAgent { headers.add(name: "User-Agent", value: userAgent) }
        return WebSocketClientConfiguration(
            url: url, headers: headers,
            maximumMessageSize: maximumFrameLength + FrameFormat.lengthPrefixSize + 64 * 1024,
            connectTimeout: connectTimeout, closeTimeout: closeTimeout, extraCAFile: extraCAFile,
            tlsContext: tlsContext)
    }
}

/// A WhatsApp client connection: a WebSocket, the client side of the Noise XX handshake with the server
/// certificate check, then binary-XML stanzas sent and received encrypted (spec 1).
///
/// ```swift
/// let connection = try await WhatsAppConnection.connect(
///     configuration: configuration, noiseKey: credentials.noiseKey,
///     payload: ClientPayloadBuilder.registration(credentials: credentials),
///     eventLoopGroup: group, logger: logger)
/// try await connection.send(BinaryNode("iq", [...]))
/// for try await node in connection.nodes { ... }
/// await connection.close()
/// ```
///
/// ``send(_:)`` may be called from any task (frames go out in call order); ``nodes`` is one stream that only
/// one task may wait on at a time. The handshake state is dropped once the transport keys are split.
public final class WhatsAppConnection: Sendable {
    private struct Outbound: Sendable {
        var writer: FrameWriter
        var transport: NoiseTransport
    }

    private struct Inbound: Sendable {
        var reader: FrameReader
        var transport: NoiseTransport
        var failure: WhatsAppConnectionError?
    }

    private let socket: WebSocketConnection
    private let outbound: Mutex<Outbound>
    private let inbound: Mutex<Inbound>
    private let logger: Logger

    /// The server's static Noise key, as certified by its certificate chain.
    public let serverStaticKey: [UInt8]

    private init(
        socket: WebSocketConnection, writer: FrameWriter, reader: FrameReader, transport: NoiseTransport,
        serverStaticKey: [UInt8], logger: Logger
    ) {
        self.socket = socket
        // Each direction keeps its own copy; only the write copy encrypts and only the read copy decrypts.
        self.outbound = Mutex(Outbound(writer: writer, transport: transport))
        self.inbound = Mutex(Inbound(reader: reader, transport: transport))
        self.serverStaticKey = serverStaticKey
        self.logger = logger
    }

    /// Opens the WebSocket and runs the Noise handshake: ClientHello (behind the intro header), ServerHello,
    /// the certificate chain checked against ``WhatsAppConnectionConfiguration/rootPublicKey`` and the
    /// server static key, then ClientFinish carrying `payload` (a serialized ClientPayload, see
    /// `ClientPayloadBuilder`).
    ///
    /// - Parameters:
    ///   - noiseKey: the companion's long-term Noise static key pair; a fresh ephemeral is drawn here.
    ///   - payload: the registration or login ClientPayload bytes.
    public static func connect(
        configuration: WhatsAppConnectionConfiguration,
        noiseKey: KeyPair,
        payload: [UInt8],
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws(WhatsAppConnectionError) -> WhatsAppConnection {
        let verifier: ServerCertificateVerifier
        do {
            verifier = try ServerCertificateVerifier(rootPublicKey: configuration.rootPublicKey)
        } catch {
            throw WhatsAppConnectionError(.certificateInvalid, certificateError: error)
        }

        let socket: WebSocketConnection
        do {
            socket = try await WebSocketClient.connect(
                configuration: configuration.webSocketConfiguration, eventLoopGroup: eventLoopGroup, logger: logger)
        } catch {
            if error.code == .cancelled { throw WhatsAppConnectionError(.cancelled) }
            throw WhatsAppConnectionError(.connectFailed, webSocketError: error)
        }

        let timedOut = TimeoutFlag()
        let timer = socket.schedule(after: configuration.handshakeTimeout) {
            timedOut.set()
            socket.abort()
        }
        defer { timer.cancel() }

        do throws(any Error) {
            var writer = FrameWriter(intro: configuration.introHeader)
            var reader = FrameReader(maximumFrameLength: configuration.maximumFrameLength)
            var handshake = NoiseHandshake(staticKey: noiseKey, ephemeralKey: .generate())

            let ephemeral = try handshake.makeClientHello()
            try await socket.send(try writer.frame(NoiseHandshakeMessages.encodeClientHello(ephemeral: ephemeral)))

            guard let helloFrame = try await nextFrame(from: socket, reader: &reader) else {
                throw WhatsAppConnectionError(.connectionClosed, detail: "closed before ServerHello")
            }
            let peer = try handshake.readServerHello(try NoiseHandshakeMessages.decodeServerHello(helloFrame))
            try verifier.verify(peer.payload, serverStaticPublicKey: peer.staticKey, now: Date())

            let finish = try handshake.makeClientFinish(payload: payload)
            try await socket.send(try writer.frame(NoiseHandshakeMessages.encodeClientFinish(finish)))
            let transport = try handshake.split()
            logger.debug("Noise handshake complete")
            return WhatsAppConnection(
                socket: socket, writer: writer, reader: reader, transport: transport, serverStaticKey: peer.staticKey,
                logger: logger)
        } catch {
            socket.abort()
            if timedOut.isSet { throw WhatsAppConnectionError(.handshakeTimeout) }
            throw handshakeError(error)
        }
    }

    /// Reads messages until the reader holds one complete frame; nil if the socket closes first.
    private static func nextFrame(
        from socket: WebSocketConnection, reader: inout FrameReader
    ) async throws -> [UInt8]? {
        var messages = socket.messages.makeAsyncIterator()
        while true {
            if let frame = try reader.nextFrame() { return frame }
            guard let message = try await messages.next() else { return nil }
            reader.append(message)
        }
    }

    private static func handshakeError(_ error: any Error) -> WhatsAppConnectionError {
        switch error {
        case let error as WhatsAppConnectionError: error
        case let error as CertificateError: WhatsAppConnectionError(.certificateInvalid, certificateError: error)
        case let error as NoiseError: WhatsAppConnectionError(.handshakeFailed, detail: "\(error.code)")
        case let error as FrameError: WhatsAppConnectionError(.handshakeFailed, detail: "\(error)")
        case is CancellationError: WhatsAppConnectionError(.cancelled)
        case let error as WebSocketError:
            error.code == .cancelled
                ? WhatsAppConnectionError(.cancelled)
                : WhatsAppConnectionError(.connectionClosed, webSocketError: error)
        default: WhatsAppConnectionError(.handshakeFailed, detail: "\(error)")
        }
    }

    // MARK: - Transport phase

    /// Encrypts and sends one stanza (flags byte 0, uncompressed). Frames leave in the order of the calls.
    public func send(_ node: BinaryNode) async throws(WhatsAppConnectionError) {
        let written: EventLoopFuture<Void>
        do {
            let plaintext = try BinaryXML.encodeFrame(node)
            let socket = self.socket
            // Encrypting (which takes the next nonce) and queueing on the channel happen under one lock, so
            // frames reach the wire in nonce order even when several tasks send.
            written = try outbound.withLock { state throws(any Error) in
                let body = try state.transport.encrypt(plaintext)
                return socket.enqueue(try state.writer.frame(body))
            }
        } catch {
            throw WhatsAppConnectionError(.malformedFrame, detail: "cannot send: \(error)")
        }
        do {
            try await written.get()
        } catch {
            throw WhatsAppConnectionError(
                .connectionClosed, webSocketError: WebSocketMessageHandler.translate(error))
        }
    }

    /// The stanzas received, in order. Ends when the connection closes cleanly; throws
    /// ``WhatsAppConnectionError`` for a broken connection or a frame that fails to decrypt or decode (the
    /// connection is then closed: a reliable stream cannot resynchronise).
    public var nodes: WhatsAppNodes { WhatsAppNodes(connection: self) }

    /// Closes the connection (WebSocket close handshake, bounded by the close timeout).
    public func close() async {
        await socket.close()
    }

    /// Whether the socket is still open.
    public var isActive: Bool { socket.isActive }

    /// The next stanza; see ``nodes``.
    fileprivate func nextNode() async throws(WhatsAppConnectionError) -> BinaryNode? {
        var messages = socket.messages.makeAsyncIterator()
        while true {
            let step: Result<BinaryNode?, WhatsAppConnectionError> = inbound.withLock { state in
                if let failure = state.failure { return .failure(failure) }
                do throws(WhatsAppConnectionError) {
                    return .success(try Self.decodeNext(&state))
                } catch {
                    state.failure = error
                    return .failure(error)
                }
            }
            switch step {
            case .success(let node?): return node
            case .success(nil): break
            case .failure(let error):
                socket.abort()
                throw error
            }
            let message: [UInt8]?
            do {
                message = try await messages.next()
            } catch is CancellationError {
                throw WhatsAppConnectionError(.cancelled)
            } catch let error as WebSocketError {
                throw WhatsAppConnectionError(.connectionClosed, webSocketError: error)
            } catch {
                throw WhatsAppConnectionError(.connectionClosed, detail: "\(error)")
            }
            guard let message else { return nil }
            inbound.withLock { $0.reader.append(message) }
        }
    }

    private static func decodeNext(_ state: inout Inbound) throws(WhatsAppConnectionError) -> BinaryNode? {
        let frame: [UInt8]?
        do {
            frame = try state.reader.nextFrame()
        } catch {
            throw WhatsAppConnectionError(.malformedFrame, detail: "\(error)")
        }
        guard let frame else { return nil }
        let plaintext: [UInt8]
        do {
            plaintext = try state.transport.decrypt(frame)
        } catch {
            throw WhatsAppConnectionError(.decryptionFailed, detail: "\(error.code)")
        }
        do {
            return try BinaryXML.decodeFrame(plaintext)
        } catch {
            throw WhatsAppConnectionError(.malformedFrame, detail: "\(error)")
        }
    }
}

/// The stanzas of a ``WhatsAppConnection``; all iterators share one stream.
public struct WhatsAppNodes: AsyncSequence, Sendable {
    public typealias Element = BinaryNode
    public typealias Failure = WhatsAppConnectionError

    fileprivate let connection: WhatsAppConnection

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(connection: connection)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = BinaryNode
        public typealias Failure = WhatsAppConnectionError
        fileprivate let connection: WhatsAppConnection

        public mutating func next() async throws(WhatsAppConnectionError) -> BinaryNode? {
            try await connection.nextNode()
        }

        public mutating func next(
            isolation actor: isolated (any Actor)?
        ) async throws(WhatsAppConnectionError)
            -> BinaryNode?
        {
            try await connection.nextNode()
        }
    }
}

/// Set once by a timeout, read after the operation it bounded failed.
final class TimeoutFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
