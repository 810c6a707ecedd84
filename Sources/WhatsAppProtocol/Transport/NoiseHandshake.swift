/// The client (initiator) side of WhatsApp's Noise XX handshake (spec 1.4), as an I/O-free state machine.
///
/// Call in order: ``makeClientHello()``, ``readServerHello(_:)``, ``makeClientFinish(payload:)``,
/// ``split()``. The caller wraps the returned fields in `HandshakeMessage` protobufs, frames them, and
/// verifies the server's certificate chain (the payload returned by ``readServerHello(_:)``) before
/// sending ClientFinish. Any error is final (``NoiseError/Code/alreadyFailed`` afterwards), because the
/// transcript hash has already moved on; a call out of order throws ``NoiseError/Code/unexpectedStep``
/// and changes nothing.
public struct NoiseHandshake: Sendable {
    private enum Step: Sendable { case start, sentHello, readServerHello, sentFinish, done, failed }

    private var step = Step.start
    private var state = NoiseSymmetricState()
    private let staticKey: KeyPair
    private let ephemeralKey: KeyPair
    private var serverEphemeral: [UInt8] = []

    /// - Parameters:
    ///   - staticKey: the client's long-term noise key pair (from the store).
    ///   - ephemeralKey: a fresh key pair for this connection (`KeyPair.generate()`; fixed in tests).
    public init(staticKey: KeyPair, ephemeralKey: KeyPair) {
        self.staticKey = staticKey
        self.ephemeralKey = ephemeralKey
    }

    /// Message 1: the value of `ClientHello.ephemeral` (the ephemeral public key). WhatsApp, unlike plain
    /// Noise, does not hash the empty message-1 payload.
    public mutating func makeClientHello() throws(NoiseError) -> [UInt8] {
        try expect(.start)
        state.mixHash(ephemeralKey.publicKey)
        step = .sentHello
        return ephemeralKey.publicKey
    }

    /// Message 2: checks and decrypts ServerHello; returns the server's static key and the decrypted
    /// payload (a serialized CertChain, not verified here).
    public mutating func readServerHello(_ hello: NoiseServerHello) throws(NoiseError) -> NoisePeer {
        try expect(.sentHello)
        do throws(NoiseError) {
            guard hello.ephemeral.count == 32, hello.encryptedStatic.count == 32 + NoiseCipher.tagLength else {
                throw NoiseError(.invalidLength)
            }
            state.mixHash(hello.ephemeral)
            try state.mixKey(ephemeralKey, hello.ephemeral)
            let serverStatic = try state.decryptAndHash(hello.encryptedStatic)
            try state.mixKey(ephemeralKey, serverStatic)
            let payload = try state.decryptAndHash(hello.encryptedPayload)
            serverEphemeral = hello.ephemeral
            step = .readServerHello
            return NoisePeer(staticKey: serverStatic, payload: payload)
        } catch {
            step = .failed
            throw error
        }
    }

    /// Message 3: the client's static key and `payload` (a serialized ClientPayload), both encrypted.
    public mutating func makeClientFinish(payload: [UInt8]) throws(NoiseError) -> NoiseClientFinish {
        try expect(.readServerHello)
        do throws(NoiseError) {
            let encryptedStatic = try state.encryptAndHash(staticKey.publicKey)
            try state.mixKey(staticKey, serverEphemeral)
            let encryptedPayload = try state.encryptAndHash(payload)
            step = .sentFinish
            return NoiseClientFinish(encryptedStatic: encryptedStatic, encryptedPayload: encryptedPayload)
        } catch {
            step = .failed
            throw error
        }
    }

    /// The transport keys, once ClientFinish is made. Allowed once, so two transports never share a nonce
    /// sequence.
    public mutating func split() throws(NoiseError) -> NoiseTransport {
        try expect(.sentFinish)
        step = .done
        let keys = state.split()
        return NoiseTransport(writeKey: keys.initiatorToResponder, readKey: keys.responderToInitiator)
    }

    private func expect(_ expected: Step) throws(NoiseError) {
        guard step == expected else {
            throw NoiseError(step == .failed ? .alreadyFailed : .unexpectedStep)
        }
    }
}
