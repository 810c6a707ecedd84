import Crypto
import Foundation
import _CryptoExtras

/// The cryptography of phone-number pairing (linking spec §5.4–§5.7), for both sides: the companion
/// (walink) and the primary (the simulator's phone). Every random input is a parameter so that the
/// shared vector (`pairing-code.json`) can be reproduced byte for byte.
public enum PairingCodeCrypto {
    /// PBKDF2 rounds, `2 << 16` in both reference clients.
    public static let pbkdf2Iterations = 131_072
    /// Salt length for both the key wrap and the key bundle.
    public static let saltLength = 32
    /// AES-CTR IV length; the whole IV is the 128-bit big-endian counter.
    public static let ivLength = 16
    /// `salt(32) || iv(16) || ct(32)`.
    public static let wrappedKeyLength = 80
    /// AES-GCM nonce length in the key bundle.
    public static let bundleNonceLength = 12
    /// `salt(32) || nonce(12) || ct(96) || tag(16)`.
    public static let wrappedKeyBundleLength = 156
    /// Length of the adv random drawn by the companion for the key bundle.
    public static let advRandomLength = 32

    static let bundleInfo = Array("link_code_pairing_key_bundle_encryption_key".utf8)
    static let advSecretInfo = Array("adv_secret".utf8)

    // MARK: - Ephemeral key wrapping (§5.4)

    /// Wraps a 32-byte ephemeral public key under the code:
    /// `salt || iv || AES-256-CTR(PBKDF2-SHA256(code, salt, 131072), iv, publicKey)`.
    public static func wrapEphemeralKey(
        _ publicKey: [UInt8], code: PairingCode, salt: [UInt8], iv: [UInt8]
    ) throws(PairingCodeError) -> [UInt8] {
        guard publicKey.count == 32 else { throw PairingCodeError(.invalidKeyLength) }
        guard salt.count == saltLength, iv.count == ivLength else { throw PairingCodeError(.invalidRandomLength) }
        return salt + iv + (try ctr(publicKey, code: code, salt: salt, iv: iv))
    }

    /// Recovers the ephemeral public key from a wrapped one. Like whatsmeow, bytes after the first 80 are
    /// ignored; fewer than 80 is an error. A wrong code gives a wrong key, not an error (CTR has no tag).
    public static func unwrapEphemeralKey(
        _ wrapped: [UInt8], code: PairingCode
    ) throws(PairingCodeError) -> [UInt8] {
        guard wrapped.count >= wrappedKeyLength else { throw PairingCodeError(.invalidWrappedLength) }
        let salt = Array(wrapped[0..<32])
        let iv = Array(wrapped[32..<48])
        return try ctr(Array(wrapped[48..<80]), code: code, salt: salt, iv: iv)
    }

    private static func ctr(
        _ input: [UInt8], code: PairingCode, salt: [UInt8], iv: [UInt8]
    ) throws(PairingCodeError) -> [UInt8] {
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(
                from: code.passwordBytes, salt: salt, using: .sha256, outputByteCount: 32,
                unsafeUncheckedRounds: pbkdf2Iterations)
            let nonce = try AES._CTR.Nonce(nonceBytes: iv)
            return Array(try AES._CTR.encrypt(input, using: key, nonce: nonce))
        } catch {
            // Only reachable with wrong sizes, which the callers have ruled out.
            throw PairingCodeError(.invalidRandomLength)
        }
    }

    // MARK: - Key bundle and adv secret (§5.7)

    /// What the companion's key bundle carries.
    public struct KeyBundle: Sendable, Hashable {
        public let companionIdentityPublicKey: [UInt8]
        public let primaryIdentityPublicKey: [UInt8]
        public let advRandom: [UInt8]
        public init(companionIdentityPublicKey: [UInt8], primaryIdentityPublicKey: [UInt8], advRandom: [UInt8]) {
            self.companionIdentityPublicKey = companionIdentityPublicKey
            self.primaryIdentityPublicKey = primaryIdentityPublicKey
            self.advRandom = advRandom
        }
    }

    /// `salt || nonce || AES-256-GCM(HKDF-SHA256(ephemeralShared, salt, info), nonce, companionIdentity ||
    /// primaryIdentity || advRandom)`, 156 bytes.
    public static func sealKeyBundle(
        _ bundle: KeyBundle, ephemeralShared: [UInt8], salt: [UInt8], nonce: [UInt8]
    ) throws(PairingCodeError) -> [UInt8] {
        guard bundle.companionIdentityPublicKey.count == 32, bundle.primaryIdentityPublicKey.count == 32,
            ephemeralShared.count == 32
        else { throw PairingCodeError(.invalidKeyLength) }
        guard bundle.advRandom.count == advRandomLength, salt.count == saltLength, nonce.count == bundleNonceLength
        else { throw PairingCodeError(.invalidRandomLength) }
        let plain = bundle.companionIdentityPublicKey + bundle.primaryIdentityPublicKey + bundle.advRandom
        do {
            let box = try AES.GCM.seal(
                plain, using: bundleKey(ephemeralShared: ephemeralShared, salt: salt),
                nonce: AES.GCM.Nonce(data: nonce))
            return salt + nonce + Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw PairingCodeError(.invalidRandomLength)
        }
    }

    /// Opens a 156-byte wrapped key bundle (the primary's side).
    public static func openKeyBundle(
        _ wrapped: [UInt8], ephemeralShared: [UInt8]
    ) throws(PairingCodeError) -> KeyBundle {
        guard wrapped.count == wrappedKeyBundleLength else { throw PairingCodeError(.invalidWrappedLength) }
        guard ephemeralShared.count == 32 else { throw PairingCodeError(.invalidKeyLength) }
        let salt = Array(wrapped[0..<32])
        let plain: [UInt8]
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: wrapped[32..<44]), ciphertext: wrapped[44..<140], tag: wrapped[140...])
            plain = Array(try AES.GCM.open(box, using: bundleKey(ephemeralShared: ephemeralShared, salt: salt)))
        } catch {
            throw PairingCodeError(.bundleAuthenticationFailed)
        }
        return KeyBundle(
            companionIdentityPublicKey: Array(plain[0..<32]), primaryIdentityPublicKey: Array(plain[32..<64]),
            advRandom: Array(plain[64..<96]))
    }

    private static func bundleKey(ephemeralShared: [UInt8], salt: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: ephemeralShared), salt: salt, info: bundleInfo, outputByteCount: 32)
    }

    /// `HKDF-SHA256(ephemeralShared || identityShared || advRandom, salt: none, info: "adv_secret")`, the adv
    /// secret that replaces the QR one once the key bundle has been exchanged.
    public static func advSecret(
        ephemeralShared: [UInt8], identityShared: [UInt8], advRandom: [UInt8]
    ) throws(PairingCodeError) -> [UInt8] {
        guard ephemeralShared.count == 32, identityShared.count == 32 else {
            throw PairingCodeError(.invalidKeyLength)
        }
        guard advRandom.count == advRandomLength else { throw PairingCodeError(.invalidRandomLength) }
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: ephemeralShared + identityShared + advRandom),
            info: advSecretInfo, outputByteCount: 32)
        return key.withUnsafeBytes { Array($0) }
    }

    // MARK: - Whole steps

    /// The companion's fresh random inputs for `companion_finish`.
    public struct FinishRandomness: Sendable, Hashable {
        public let advRandom: [UInt8]
        public let bundleSalt: [UInt8]
        public let bundleNonce: [UInt8]
        public init(advRandom: [UInt8], bundleSalt: [UInt8], bundleNonce: [UInt8]) {
            self.advRandom = advRandom
            self.bundleSalt = bundleSalt
            self.bundleNonce = bundleNonce
        }
    }

    /// The companion's result of `primary_hello`: what to send in `companion_finish` and the adv secret to
    /// store in place of the QR one (pair-success is checked against it).
    public struct CompanionFinish: Sendable, Hashable {
        public let wrappedKeyBundle: [UInt8]
        public let advSecret: [UInt8]
    }

    /// Companion side of `primary_hello` (§5.7 steps 1–8).
    public static func companionFinish(
        code: PairingCode, companionEphemeral: KeyPair, companionIdentity: KeyPair,
        wrappedPrimaryEphemeral: [UInt8], primaryIdentityPublicKey: [UInt8], randomness: FinishRandomness
    ) throws(PairingCodeError) -> CompanionFinish {
        guard primaryIdentityPublicKey.count == 32 else { throw PairingCodeError(.invalidKeyLength) }
        let primaryEphemeral = try unwrapEphemeralKey(wrappedPrimaryEphemeral, code: code)
        let ephemeralShared = try agree(companionEphemeral, primaryEphemeral)
        let bundle = KeyBundle(
            companionIdentityPublicKey: companionIdentity.publicKey,
            primaryIdentityPublicKey: primaryIdentityPublicKey, advRandom: randomness.advRandom)
        let wrapped = try sealKeyBundle(
            bundle, ephemeralShared: ephemeralShared, salt: randomness.bundleSalt, nonce: randomness.bundleNonce)
        let identityShared = try agree(companionIdentity, primaryIdentityPublicKey)
        let secret = try advSecret(
            ephemeralShared: ephemeralShared, identityShared: identityShared, advRandom: randomness.advRandom)
        return CompanionFinish(wrappedKeyBundle: wrapped, advSecret: secret)
    }

    /// The primary's result of `companion_finish`: who the companion is and the adv secret both now share.
    public struct PrimaryFinish: Sendable, Hashable {
        public let companionIdentityPublicKey: [UInt8]
        public let advSecret: [UInt8]
    }

    /// Primary (phone) side of `companion_finish`, for the simulator: unwraps the companion's ephemeral key,
    /// opens the bundle, checks it names this primary, and derives the same adv secret as the companion.
    public static func primaryFinish(
        code: PairingCode, primaryEphemeral: KeyPair, primaryIdentity: KeyPair,
        wrappedCompanionEphemeral: [UInt8], wrappedKeyBundle: [UInt8]
    ) throws(PairingCodeError) -> PrimaryFinish {
        let companionEphemeral = try unwrapEphemeralKey(wrappedCompanionEphemeral, code: code)
        let ephemeralShared = try agree(primaryEphemeral, companionEphemeral)
        let bundle = try openKeyBundle(wrappedKeyBundle, ephemeralShared: ephemeralShared)
        guard bundle.primaryIdentityPublicKey == primaryIdentity.publicKey else {
            throw PairingCodeError(.bundleIdentityMismatch)
        }
        let identityShared = try agree(primaryIdentity, bundle.companionIdentityPublicKey)
        let secret = try advSecret(
            ephemeralShared: ephemeralShared, identityShared: identityShared, advRandom: bundle.advRandom)
        return PrimaryFinish(companionIdentityPublicKey: bundle.companionIdentityPublicKey, advSecret: secret)
    }

    /// X25519 that refuses an all-zero result (a low-order peer key), as Go's `curve25519.X25519` does for
    /// whatsmeow; swift-crypto returns the zeros.
    private static func agree(_ own: KeyPair, _ peer: [UInt8]) throws(PairingCodeError) -> [UInt8] {
        let shared: [UInt8]
        do {
            shared = try own.sharedSecret(with: peer)
        } catch {
            throw PairingCodeError(error.code == .invalidLength ? .invalidKeyLength : .invalidKey)
        }
        guard shared.reduce(0, |) != 0 else { throw PairingCodeError(.invalidKey) }
        return shared
    }
}
