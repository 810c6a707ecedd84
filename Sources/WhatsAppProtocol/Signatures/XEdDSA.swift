import BigInt
import CSodium
import Crypto
import Foundation

/// libsignal-style Curve25519 signatures ("XEdDSA-like"), as WhatsApp uses for identity, prekey, ADV and
/// certificate signatures.
///
/// The signer's Curve25519 private scalar is used directly as an Ed25519 scalar (not negated, unlike the
/// XEdDSA paper); the sign bit of the resulting Edwards public key travels in bit 7 of signature byte 63, so a
/// verifier holding only the Montgomery `u` can rebuild the Edwards key. Section 9 of
/// whatsapp-linking-protocol.md.
public enum XEdDSA {
    /// Signs `message` with a 32-byte Curve25519 private key, using `random` (64 bytes) as the nonce input.
    ///
    /// Deterministic for a given `random`; production callers should use ``sign(_:privateKey:)``.
    public static func sign(_ message: [UInt8], privateKey: [UInt8], random: [UInt8]) throws(SignatureError) -> [UInt8] {
        guard privateKey.count == 32 else { throw SignatureError(.invalidPrivateKey) }
        guard random.count == 64 else { throw SignatureError(.invalidRandom) }
        guard sodiumIsReady else { throw SignatureError(.signingFailed) }

        // a = clamped k, reduced mod L (same point, and keeps libsodium's scalar ops within their domain).
        var clamped = privateKey
        clamped[0] &= 248
        clamped[31] &= 127
        clamped[31] |= 64
        let a = reduce(clamped + [UInt8](repeating: 0, count: 32))
        let publicEdwards = try baseMultiple(a)

        // r = SHA-512(0xFE || 0xFF*31 || k || M || Z) mod L
        var nonceInput: [UInt8] = [0xFE] + [UInt8](repeating: 0xFF, count: 31)
        nonceInput += privateKey
        nonceInput += message
        nonceInput += random
        let r = reduce(Array(SHA512.hash(data: nonceInput)))
        let commitment = try baseMultiple(r)

        // h = SHA-512(R || A || M) mod L;  S = r + h*a mod L
        let h = reduce(Array(SHA512.hash(data: commitment + publicEdwards + message)))
        var ha = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_mul(&ha, h, a)
        var s = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_add(&s, r, ha)

        var signature = commitment + s
        signature[63] = (signature[63] & 0x7F) | (publicEdwards[31] & 0x80)
        return signature
    }

    /// Signs `message` with fresh randomness from the system's cryptographic generator.
    public static func sign(_ message: [UInt8], privateKey: [UInt8]) throws(SignatureError) -> [UInt8] {
        try sign(message, privateKey: privateKey, random: secureRandom(count: 64))
    }

    /// Whether `signature` (64 bytes) is valid for `message` under the 32-byte Curve25519 `publicKey`.
    ///
    /// Wrong lengths and keys with no Edwards equivalent simply fail.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32 else { return false }
        guard var edwards = edwardsY(fromMontgomery: publicKey) else { return false }
        edwards[31] |= signature[63] & 0x80
        var plainSignature = signature
        plainSignature[63] &= 0x7F
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: edwards) else { return false }
        return key.isValidSignature(plainSignature, for: message)
    }

    // MARK: - Helpers

    private static let sodiumIsReady: Bool = sodium_init() >= 0

    /// 2^255 - 19.
    private static let fieldPrime = (BigUInt(1) << 255) - 19

    /// The little-endian Edwards `y = (u - 1) / (u + 1) mod p` for a Montgomery `u` (top bit ignored), sign bit 0.
    private static func edwardsY(fromMontgomery publicKey: [UInt8]) -> [UInt8]? {
        var uBytes = publicKey
        uBytes[31] &= 0x7F
        let u = BigUInt(Data(uBytes.reversed())) % fieldPrime
        let p = fieldPrime
        guard let inverse = ((u + 1) % p).inverse(p) else { return nil }
        let y = ((u + p - 1) % p) * inverse % p
        let bigEndian = Array(y.serialize())
        return Array((([UInt8](repeating: 0, count: 32 - bigEndian.count)) + bigEndian).reversed())
    }

    /// A 64-byte little-endian value reduced mod L.
    private static func reduce(_ wide: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_core_ed25519_scalar_reduce(&out, wide)
        return out
    }

    /// `scalar·B`, encoded; libsodium refuses a zero scalar.
    private static func baseMultiple(_ scalar: [UInt8]) throws(SignatureError) -> [UInt8] {
        var point = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_ed25519_base_noclamp(&point, scalar) == 0 else {
            throw SignatureError(.signingFailed)
        }
        return point
    }

    private static func secureRandom(count: Int) -> [UInt8] {
        SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }
}
