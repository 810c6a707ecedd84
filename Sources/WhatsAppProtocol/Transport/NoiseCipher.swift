import Crypto
import Foundation

/// AES-256-GCM as both the handshake and the transport use it: a 12-byte nonce of 8 zero bytes and a
/// 32-bit big-endian counter, the 16-byte tag appended to the ciphertext (spec 1.4, 1.5).
enum NoiseCipher {
    static let tagLength = 16
    static let nonceLength = 12

    static func nonce(_ counter: UInt32) -> AES.GCM.Nonce {
        let bytes: [UInt8] = [
            0, 0, 0, 0, 0, 0, 0, 0,
            UInt8(truncatingIfNeeded: counter >> 24), UInt8(truncatingIfNeeded: counter >> 16),
            UInt8(truncatingIfNeeded: counter >> 8), UInt8(truncatingIfNeeded: counter),
        ]
        // A 12-byte nonce is always accepted.
        return try! AES.GCM.Nonce(data: bytes)
    }

    /// Ciphertext followed by the tag.
    static func seal(_ plaintext: [UInt8], key: SymmetricKey, counter: UInt32, authenticating ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce(counter), authenticating: ad)
            // `combined` (nonce | ciphertext | tag) is the box's own storage; `ciphertext` and `tag` would
            // be two more copies.
            guard let combined = box.combined else { throw NoiseError(.cryptoFailure) }
            return combined.withUnsafeBytes { Array($0[nonceLength...]) }
        } catch {
            throw NoiseError(.cryptoFailure)
        }
    }

    /// The plaintext of ciphertext-plus-tag; `.invalidLength` if shorter than a tag, `.decryptionFailed`
    /// if authentication fails.
    static func open(_ sealed: [UInt8], key: SymmetricKey, counter: UInt32, authenticating ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard sealed.count >= tagLength else { throw NoiseError(.invalidLength) }
        let split = sealed.count - tagLength
        do {
            let box = try AES.GCM.SealedBox(nonce: nonce(counter), ciphertext: sealed[..<split], tag: sealed[split...])
            return Array(try AES.GCM.open(box, using: key, authenticating: ad))
        } catch {
            throw NoiseError(.decryptionFailed)
        }
    }
}
