import Foundation
import NIOCore
import NIOWebSocket
import WhatsAppProtocol

/// The server side of WhatsApp's Noise handshake, for scripting a test server: a root key, the server's static
/// key and the certificate chain the client must accept.
struct TestNoiseServer: Sendable {
    let rootKey: KeyPair
    let staticKey: KeyPair

    init(rootKey: KeyPair = .generate(), staticKey: KeyPair = .generate()) {
        self.rootKey = rootKey
        self.staticKey = staticKey
    }

    /// A valid chain for `staticKey` signed by `rootKey` (or another root / another leaf key, to test refusals).
    func certificateChain(signedBy root: KeyPair? = nil, certifying key: [UInt8]? = nil) throws -> [UInt8] {
        try ServerCertificateChainBuilder.build(
            rootKeyPair: root ?? rootKey, serverStaticPublicKey: key ?? staticKey.publicKey,
            validFrom: Date().addingTimeInterval(-86_400), validUntil: Date().addingTimeInterval(86_400))
    }

    /// Runs the responder side on `socket` with `chain` in ServerHello; returns the session after ClientFinish.
    func accept(_ socket: ServerSocket, chain: [UInt8]? = nil) async throws -> ServerSession {
        var session = ServerSession(socket: socket)
        var handshake = NoiseServerHandshake(staticKey: staticKey, ephemeralKey: .generate())
        guard let helloFrame = try await session.nextFrame() else { throw TestServerError.closed }
        try handshake.readClientHello(ephemeral: try NoiseHandshakeMessages.decodeClientHello(helloFrame))
        let hello = try handshake.makeServerHello(payload: try chain ?? certificateChain())
        try await session.sendFrame(NoiseHandshakeMessages.encodeServerHello(hello))
        guard let finishFrame = try await session.nextFrame() else { throw TestServerError.closed }
        let client = try handshake.readClientFinish(try NoiseHandshakeMessages.decodeClientFinish(finishFrame))
        session.clientStaticKey = client.staticKey
        session.clientPayload = client.payload
        session.transport = try handshake.split()
        return session
    }
}

enum TestServerError: Error {
    case closed
    case unexpected(String)
}

/// One accepted connection after (or during) the handshake: frames in and out, then encrypted stanzas.
struct ServerSession {
    let socket: ServerSocket
    private var frames: AsyncThrowingMapSequence<NIOAsyncChannelInboundStream<WebSocketFrame>, ServerSocket.Received>.AsyncIterator
    private var reader = FrameReader(expectsIntroHeader: true)
    private var writer = FrameWriter(intro: nil)
    var transport: NoiseTransport?
    var clientStaticKey: [UInt8] = []
    var clientPayload: [UInt8] = []
    /// The client's WebSocket close frame arrived.
    private(set) var sawClose = false

    init(socket: ServerSocket) {
        self.socket = socket
        frames = socket.frames().makeAsyncIterator()
    }

    /// The next frame body from the client; nil when it closed.
    mutating func nextFrame() async throws -> [UInt8]? {
        while true {
            if let frame = try reader.nextFrame() { return frame }
            guard let received = try await frames.next() else { return nil }
            switch received.opcode {
            case .binary: reader.append(received.data)
            case .connectionClose:
                sawClose = true
                try? await socket.sendClose()
                return nil
            default: break
            }
        }
    }

    mutating func sendFrame(_ body: [UInt8]) async throws {
        try await socket.send(try writer.frame(body))
    }

    /// The next stanza from the client; nil when it closed.
    mutating func receive() async throws -> BinaryNode? {
        guard let frame = try await nextFrame() else { return nil }
        guard var transport else { throw TestServerError.unexpected("no transport") }
        let plaintext = try transport.decrypt(frame)
        self.transport = transport
        return try BinaryXML.decodeFrame(plaintext)
    }

    /// Encrypted frame bodies for `nodes`.
    mutating func sealed(_ nodes: [BinaryNode]) throws -> [[UInt8]] {
        guard var transport else { throw TestServerError.unexpected("no transport") }
        let bodies = try nodes.map { try transport.encrypt(try BinaryXML.encodeFrame($0, packing: .raw)) }
        self.transport = transport
        return bodies
    }

    mutating func send(_ node: BinaryNode) async throws {
        try await sendFrame(try sealed([node])[0])
    }

    /// Sends raw WebSocket message bytes (already framed).
    func sendRaw(_ bytes: [UInt8]) async throws {
        try await socket.send(bytes)
    }

    /// Wire bytes (length-prefixed) of several frame bodies, for sending them in one message.
    mutating func framed(_ bodies: [[UInt8]]) throws -> [UInt8] {
        var out: [UInt8] = []
        for body in bodies { out += try writer.frame(body) }
        return out
    }

    /// Waits until the client closes (answering its close frame).
    mutating func waitForClose() async throws {
        while try await nextFrame() != nil {}
    }
}
