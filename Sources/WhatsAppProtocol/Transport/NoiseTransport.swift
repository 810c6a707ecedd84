import Crypto

/// The transport phase after the handshake (spec 1.5): AES-256-GCM with empty associated data, one
/// uint32 nonce counter per direction starting at 0, no rekeying. Bodies are whole frame bodies (the
/// framing is ``FrameWriter``/``FrameReader``'s job).
///
/// A failed decrypt is final for the read side: the counter does not advance and later reads throw
/// ``NoiseError/Code/alreadyFailed``. whatsmeow instead advances the counter and drops the frame; but the
/// stream is reliable and ordered, so a frame that does not authenticate means tampering, corruption or
/// a peer out of step, and carrying on would let someone on the path silently delete a frame. Stopping
/// makes that visible; the caller closes the connection. Writing stays possible (to send a goodbye).
public struct NoiseTransport: Sendable {
    private let writeKey: SymmetricKey
    private let readKey: SymmetricKey
    /// The nonce counter of the next frame written; frame `2^32` cannot be written. (Settable inside the
    /// module so tests can reach exhaustion.)
    public internal(set) var writeCounter: UInt64 = 0
    /// The nonce counter of the next frame read (equal to the number of frames read successfully).
    public internal(set) var readCounter: UInt64 = 0
    private var readFailed = false

    /// From ``NoiseHandshake/split()`` or ``NoiseServerHandshake/split()``.
    init(writeKey: SymmetricKey, readKey: SymmetricKey) {
        self.writeKey = writeKey
        self.readKey = readKey
    }

    /// The frame body for `plaintext` (16 bytes longer).
    public mutating func encrypt(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let counter = UInt32(exactly: writeCounter) else { throw NoiseError(.counterExhausted) }
        let sealed = try NoiseCipher.seal(plaintext, key: writeKey, counter: counter, authenticating: [])
        writeCounter += 1
        return sealed
    }

    /// The plaintext of a received frame body.
    public mutating func decrypt(_ frameBody: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard !readFailed else { throw NoiseError(.alreadyFailed) }
        guard let counter = UInt32(exactly: readCounter) else { throw NoiseError(.counterExhausted) }
        do throws(NoiseError) {
            let plaintext = try NoiseCipher.open(frameBody, key: readKey, counter: counter, authenticating: [])
            readCounter += 1
            return plaintext
        } catch {
            readFailed = true
            throw error
        }
    }
}
