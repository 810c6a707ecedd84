import Crypto
import Foundation

/// Noise's SymmetricState (h, ck, k, n) with WhatsApp's choices: protocol name
/// `Noise_XX_25519_AESGCM_SHA256` padded with NULs to 32 bytes and used as `h` unhashed, the 4-byte intro
/// magic as prologue (spec 1.4). Shared by both handshake roles.
struct NoiseSymmetricState: Sendable {
    static let protocolName: [UInt8] = Array("Noise_XX_25519_AESGCM_SHA256".utf8) + [0, 0, 0, 0]

    /// The handshake hash, used as AES-GCM associated data.
    private(set) var hash: [UInt8]
    private var chainingKey: [UInt8]
    private var key: SymmetricKey
    private var counter: UInt32 = 0

    init() {
        hash = Self.protocolName
        chainingKey = Self.protocolName
        key = SymmetricKey(data: Self.protocolName)
        mixHash(IntroHeader.magic)
    }

    mutating func mixHash(_ data: [UInt8]) {
        var hasher = SHA256()
        hasher.update(data: hash)
        hasher.update(data: data)
        hash = Array(hasher.finalize())
    }

    /// New `ck` and `k` from HKDF(ck, ikm); resets the counter.
    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let (first, second) = Self.hkdf(salt: chainingKey, inputKeyMaterial: inputKeyMaterial)
        chainingKey = first
        key = SymmetricKey(data: second)
        counter = 0
    }

    /// MixKey with the X25519 of `keyPair` and `peerPublicKey`. An all-zero result (a low-order peer
    /// key, which contributes nothing secret) is refused, as whatsmeow's Go X25519 does.
    mutating func mixKey(_ keyPair: KeyPair, _ peerPublicKey: [UInt8]) throws(NoiseError) {
        let secret: [UInt8]
        do throws(KeyError) {
            secret = try keyPair.sharedSecret(with: peerPublicKey)
        } catch {
            throw NoiseError(error.code == .invalidLength ? .invalidLength : .invalidKey)
        }
        guard secret.reduce(0, |) != 0 else { throw NoiseError(.invalidKey) }
        mixKey(secret)
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let ciphertext = try NoiseCipher.seal(plaintext, key: key, counter: counter, authenticating: hash)
        counter += 1
        mixHash(ciphertext)
        return ciphertext
    }

    /// Absorbs the ciphertext into `h`, only after it authenticated.
    mutating func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let plaintext = try NoiseCipher.open(ciphertext, key: key, counter: counter, authenticating: hash)
        counter += 1
        mixHash(ciphertext)
        return plaintext
    }

    /// HKDF(ck, empty): the initiator's write key, then its read key.
    func split() -> (initiatorToResponder: SymmetricKey, responderToInitiator: SymmetricKey) {
        let (first, second) = Self.hkdf(salt: chainingKey, inputKeyMaterial: [])
        return (SymmetricKey(data: first), SymmetricKey(data: second))
    }

    /// RFC 5869 HKDF-SHA256 with empty info, 64 bytes, cut in two halves.
    private static func hkdf(salt: [UInt8], inputKeyMaterial: [UInt8]) -> ([UInt8], [UInt8]) {
        let output = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: inputKeyMaterial), salt: salt, outputByteCount: 64
        )
        let bytes = output.withUnsafeBytes { Array($0) }
        return (Array(bytes[..<32]), Array(bytes[32...]))
    }
}
