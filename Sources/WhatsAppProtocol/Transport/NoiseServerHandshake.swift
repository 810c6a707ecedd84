/// The server (responder) side of WhatsApp's Noise XX handshake (spec 1.4), for the simulator.
///
/// Call in order: ``readClientHello(ephemeral:)``, ``makeServerHello(payload:)``,
/// ``readClientFinish(_:)``, ``split()``. The caller checks the returned ClientPayload. Errors behave as
/// in ``NoiseHandshake``: final after a failed step, harmless after a call out of order.
public struct NoiseServerHandshake: Sendable {
    private enum Step: Sendable { case start, readHello, sentServerHello, readFinish, done, failed }

    private var step = Step.start
    private var state = NoiseSymmetricState()
    private let staticKey: KeyPair
    private let ephemeralKey: KeyPair
    private var clientEphemeral: [UInt8] = []

    /// - Parameters:
    ///   - staticKey: the server's static key pair (the key its certificate chain's leaf names).
    ///   - ephemeralKey: a fresh key pair for this connection (`KeyPair.generate()`; fixed in tests).
    public init(staticKey: KeyPair, ephemeralKey: KeyPair) {
        self.staticKey = staticKey
        self.ephemeralKey = ephemeralKey
    }

    /// Message 1: the value of `ClientHello.ephemeral`, which must be 32 bytes.
    public mutating func readClientHello(ephemeral: [UInt8]) throws(NoiseError) {
        try expect(.start)
        guard ephemeral.count == 32 else {
            step = .failed
            throw NoiseError(.invalidLength)
        }
        state.mixHash(ephemeral)
        clientEphemeral = ephemeral
        step = .readHello
    }

    /// Message 2: the ServerHello fields carrying the server's ephemeral key, its encrypted static key
    /// and `payload` (a serialized CertChain) encrypted.
    public mutating func makeServerHello(payload: [UInt8]) throws(NoiseError) -> NoiseServerHello {
        try expect(.readHello)
        do throws(NoiseError) {
            state.mixHash(ephemeralKey.publicKey)
            try state.mixKey(ephemeralKey, clientEphemeral)
            let encryptedStatic = try state.encryptAndHash(staticKey.publicKey)
            try state.mixKey(staticKey, clientEphemeral)
            let encryptedPayload = try state.encryptAndHash(payload)
            step = .sentServerHello
            return NoiseServerHello(
                ephemeral: ephemeralKey.publicKey, encryptedStatic: encryptedStatic, encryptedPayload: encryptedPayload
            )
        } catch {
            step = .failed
            throw error
        }
    }

    /// Message 3: checks and decrypts ClientFinish; returns the client's static key and the decrypted
    /// payload (a serialized ClientPayload, not checked here).
    public mutating func readClientFinish(_ finish: NoiseClientFinish) throws(NoiseError) -> NoisePeer {
        try expect(.sentServerHello)
        do throws(NoiseError) {
            guard finish.encryptedStatic.count == 32 + NoiseCipher.tagLength else { throw NoiseError(.invalidLength) }
            let clientStatic = try state.decryptAndHash(finish.encryptedStatic)
            try state.mixKey(ephemeralKey, clientStatic)
            let payload = try state.decryptAndHash(finish.encryptedPayload)
            step = .readFinish
            return NoisePeer(staticKey: clientStatic, payload: payload)
        } catch {
            step = .failed
            throw error
        }
    }

    /// The transport keys (write = the client's read key and vice versa), once ClientFinish is read.
    /// Allowed once, so two transports never share a nonce sequence.
    public mutating func split() throws(NoiseError) -> NoiseTransport {
        try expect(.readFinish)
        step = .done
        let keys = state.split()
        return NoiseTransport(writeKey: keys.responderToInitiator, readKey: keys.initiatorToResponder)
    }

    private func expect(_ expected: Step) throws(NoiseError) {
        guard step == expected else {
            throw NoiseError(step == .failed ? .alreadyFailed : .unexpectedStep)
        }
    }
}
