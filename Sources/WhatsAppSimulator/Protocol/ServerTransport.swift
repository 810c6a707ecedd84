import WhatsAppProtocol

/// The server side of one connection's byte stream, without I/O: intro header and framing, the Noise XX
/// responder (spec 1.2-1.5), then encrypted binary-XML stanzas.
///
/// Feed every received WebSocket message to ``receive(_:)`` and carry out the returned events in order;
/// wrap outgoing stanzas with ``seal(_:)``. The handshake state is dropped once the transport keys exist.
struct ServerTransport: Sendable {
    enum Event: Sendable, Equatable {
        /// Bytes to send as one binary WebSocket message.
        case send([UInt8])
        /// The handshake completed: the client's Noise static key and its decrypted ClientPayload.
        case handshakeComplete(NoisePeer)
        /// A stanza from the client.
        case node(BinaryNode)
    }

    private enum State: Sendable {
        case awaitingHello(NoiseServerHandshake)
        case awaitingFinish(NoiseServerHandshake)
        case open(NoiseTransport)
        case failed
    }

    private var state: State
    private var reader: FrameReader
    private var writer = FrameWriter(intro: nil)
    private let certificateChain: [UInt8]

    /// - Parameters:
    ///   - staticKey: the server's Noise static key (the leaf of `certificateChain` certifies it).
    ///   - ephemeralKey: this connection's fresh ephemeral key.
    ///   - certificateChain: the serialized `CertChain` sent (encrypted) in ServerHello.
    init(staticKey: KeyPair, ephemeralKey: KeyPair, certificateChain: [UInt8], maximumFrameLength: Int) {
        state = .awaitingHello(NoiseServerHandshake(staticKey: staticKey, ephemeralKey: ephemeralKey))
        reader = FrameReader(maximumFrameLength: maximumFrameLength, expectsIntroHeader: true)
        self.certificateChain = certificateChain
    }

    /// True once the transport keys exist.
    var isOpen: Bool {
        if case .open = state { true } else { false }
    }

    /// Processes one received message. Throws on anything that must end the connection; the transport
    /// is then failed for good.
    mutating func receive(_ bytes: [UInt8]) throws(SimulatorError) -> [Event] {
        if case .failed = state { throw SimulatorError(.protocolViolation, detail: "transport failed") }
        reader.append(bytes)
        var events: [Event] = []
        do throws(SimulatorError) {
            while let frame = try nextFrame() {
                try handle(frame, into: &events)
            }
        } catch {
            state = .failed
            throw error
        }
        return events
    }

    /// The WebSocket message carrying `node`, encrypted. Only once the transport is open.
    mutating func seal(_ node: BinaryNode) throws(SimulatorError) -> [UInt8] {
        guard case .open(var transport) = state else {
            throw SimulatorError(.protocolViolation, detail: "send before handshake")
        }
        do {
            let plaintext = try BinaryXML.encodeFrame(node)
            let body = try transport.encrypt(plaintext)
            state = .open(transport)
            return try writer.frame(body)
        } catch {
            throw SimulatorError(.protocolViolation, detail: "cannot encode stanza: \(error)")
        }
    }

    private mutating func nextFrame() throws(SimulatorError) -> [UInt8]? {
        do {
            return try reader.nextFrame()
        } catch {
            throw SimulatorError(.protocolViolation, detail: "\(error.code)")
        }
    }

    private mutating func handle(_ frame: [UInt8], into events: inout [Event]) throws(SimulatorError) {
        switch state {
        case .awaitingHello(var handshake):
            let hello: NoiseServerHello
            do throws(NoiseError) {
                let ephemeral = try NoiseHandshakeMessages.decodeClientHello(frame)
                try handshake.readClientHello(ephemeral: ephemeral)
                hello = try handshake.makeServerHello(payload: certificateChain)
            } catch {
                throw SimulatorError(.handshakeFailed, detail: "ClientHello: \(error.code)")
            }
            events.append(.send(try framed(NoiseHandshakeMessages.encodeServerHello(hello))))
            state = .awaitingFinish(handshake)
        case .awaitingFinish(var handshake):
            do throws(NoiseError) {
                let finish = try NoiseHandshakeMessages.decodeClientFinish(frame)
                let peer = try handshake.readClientFinish(finish)
                state = .open(try handshake.split())
                events.append(.handshakeComplete(peer))
            } catch {
                throw SimulatorError(.handshakeFailed, detail: "ClientFinish: \(error.code)")
            }
        case .open(var transport):
            let plaintext: [UInt8]
            do {
                plaintext = try transport.decrypt(frame)
            } catch {
                throw SimulatorError(.protocolViolation, detail: "decrypt: \(error.code)")
            }
            state = .open(transport)
            do {
                events.append(.node(try BinaryXML.decodeFrame(plaintext)))
            } catch {
                throw SimulatorError(.protocolViolation, detail: "stanza: \(error.code)")
            }
        case .failed:
            throw SimulatorError(.protocolViolation, detail: "transport failed")
        }
    }

    private mutating func framed(_ body: [UInt8]) throws(SimulatorError) -> [UInt8] {
        do {
            return try writer.frame(body)
        } catch {
            throw SimulatorError(.protocolViolation, detail: "\(error.code)")
        }
    }
}
