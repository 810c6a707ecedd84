import Crypto
import Foundation
import SwiftProtobuf

/// The cryptography of `pair-success` (linking spec §6.2, 2026 addendum §A.6): the companion's verification
/// and device signature, and, for the simulator's phone, the construction of the `device-identity` it sends
/// and the check of the companion's `pair-device-sign` reply.
public enum PairSuccessCrypto {
    /// HMAC prefix for HOSTED containers, and account-signature prefix for HOSTED devices (§9.6).
    static let hostedPrefix: [UInt8] = [0x06, 0x05]
    /// Account-signature prefix for ordinary (E2EE) devices.
    static let accountSignaturePrefix: [UInt8] = [0x06, 0x00]
    /// Device-signature prefix. The hosted device prefix `06 06` exists but is never used (§6.2 step 6).
    static let deviceSignaturePrefix: [UInt8] = [0x06, 0x01]

    /// A pair-success whose HMAC and account signature have been checked (§6.2 steps 1–5).
    public struct VerifiedAccount: Sendable, Hashable {
        /// `ADVSignedDeviceIdentity.details`: the serialized `ADVDeviceIdentity`, exactly as received.
        public let details: [UInt8]
        /// `accountSignatureKey`: the primary's identity public key.
        public let primaryIdentityPublicKey: [UInt8]
        /// `accountSignature`, 64 bytes.
        public let accountSignature: [UInt8]
        /// `ADVDeviceIdentity.keyIndex`, written as the decimal `key-index` attribute of the reply.
        public let keyIndex: UInt32
        /// `ADVDeviceIdentity.rawId`.
        public let rawID: UInt32
        /// `ADVDeviceIdentity.timestamp`.
        public let timestamp: UInt64
        /// `ADVDeviceIdentity.deviceType == HOSTED`.
        public let isHostedDevice: Bool
        /// The identity public key the account signature was checked against (ours).
        public let identityPublicKey: [UInt8]
        /// The received message, unknown fields included, to re-serialise.
        let signed: WAADVSignedDeviceIdentity
    }

    /// What a verified and counter-signed pair-success gives the companion.
    public struct Verified: Sendable, Hashable {
        public let account: VerifiedAccount
        /// Our 64-byte device signature.
        public let deviceSignature: [UInt8]
        /// The full `ADVSignedDeviceIdentity` (details, accountSignatureKey, accountSignature, deviceSignature):
        /// the account record to store (§6.2 step 7).
        public let signedDeviceIdentity: [UInt8]
        /// The content of `<pair-device-sign><device-identity key-index=…>`: the same message without
        /// accountSignatureKey (§6.2 step 8).
        public let replyDeviceIdentity: [UInt8]
    }

    /// The whole companion step: ``verifyAccount(deviceIdentity:advSecret:identityPublicKey:)`` and
    /// ``sign(_:identity:signatureRandom:)``.
    ///
    /// - Parameters:
    ///   - deviceIdentity: the `<device-identity>` bytes of pair-success (`ADVSignedDeviceIdentityHMAC`).
    ///   - advSecret: the secret held when pair-success arrives (``AdvSecretState/current``); retired
    ///     secrets are not tried (2026 §A.6).
    ///   - identity: our identity key pair.
    ///   - signatureRandom: 64 random bytes for the XEdDSA device signature.
    public static func verify(
        deviceIdentity: [UInt8], advSecret: [UInt8], identity: KeyPair, signatureRandom: [UInt8]
    ) throws(PairSuccessError) -> Verified {
        let account = try verifyAccount(
            deviceIdentity: deviceIdentity, advSecret: advSecret, identityPublicKey: identity.publicKey)
        return try sign(account, identity: identity, signatureRandom: signatureRandom)
    }

    /// §6.2 steps 1–5: the container's HMAC (keyed by `advSecret`, over `06 05 || details` for a HOSTED
    /// container and `details` otherwise, compared in constant time), the two nested messages, and the
    /// primary's XEdDSA account signature over `06 00 (06 05 if the device is HOSTED) || details ||
    /// identityPublicKey`.
    public static func verifyAccount(
        deviceIdentity: [UInt8], advSecret: [UInt8], identityPublicKey: [UInt8]
    ) throws(PairSuccessError) -> VerifiedAccount {
        guard advSecret.count == 32 else { throw PairSuccessError(.invalidAdvSecretLength) }
        guard identityPublicKey.count == 32 else { throw PairSuccessError(.invalidIdentityKeyLength) }

        let container: WAADVSignedDeviceIdentityHMAC
        do { container = try WAADVSignedDeviceIdentityHMAC(serializedBytes: deviceIdentity) } catch {
            throw PairSuccessError(.malformedContainer)
        }
        let hmacPrefix = container.accountType == .hosted ? hostedPrefix : []
        guard
            HMAC<SHA256>.isValidAuthenticationCode(
                container.hmac, authenticating: hmacPrefix + Array(container.details),
                using: SymmetricKey(data: advSecret))
        else { throw PairSuccessError(.hmacMismatch) }

        let signed: WAADVSignedDeviceIdentity
        do { signed = try WAADVSignedDeviceIdentity(serializedBytes: container.details) } catch {
            throw PairSuccessError(.malformedSignedIdentity)
        }
        let detailsBytes = Array(signed.details)
        let details: WAADVDeviceIdentity
        do { details = try WAADVDeviceIdentity(serializedBytes: detailsBytes) } catch {
            throw PairSuccessError(.malformedDeviceIdentity)
        }

        let accountKey = Array(signed.accountSignatureKey)
        let accountSignature = Array(signed.accountSignature)
        guard accountKey.count == 32 else { throw PairSuccessError(.invalidAccountSignatureKeyLength) }
        guard accountSignature.count == 64 else { throw PairSuccessError(.invalidAccountSignatureLength) }
        let isHosted = details.deviceType == .hosted
        let message = accountSignatureMessage(details: detailsBytes, isHosted: isHosted, companion: identityPublicKey)
        guard XEdDSA.verify(accountSignature, of: message, publicKey: accountKey) else {
            throw PairSuccessError(.signatureMismatch)
        }
        return VerifiedAccount(
            details: detailsBytes, primaryIdentityPublicKey: accountKey, accountSignature: accountSignature,
            keyIndex: details.keyIndex, rawID: details.rawID, timestamp: details.timestamp,
            isHostedDevice: isHosted, identityPublicKey: identityPublicKey, signed: signed)
    }

    /// §6.2 steps 6–8: our XEdDSA device signature over `06 01 || details || identity || primary identity`,
    /// and the two serialisations (to store, and for the reply without accountSignatureKey).
    public static func sign(
        _ account: VerifiedAccount, identity: KeyPair, signatureRandom: [UInt8]
    ) throws(PairSuccessError) -> Verified {
        guard identity.publicKey == account.identityPublicKey else { throw PairSuccessError(.identityMismatch) }
        let message = deviceSignatureMessage(
            details: account.details, companion: identity.publicKey, primary: account.primaryIdentityPublicKey)
        let deviceSignature = try sign(message, with: identity, random: signatureRandom)
        var signed = account.signed
        signed.deviceSignature = Data(deviceSignature)
        let full = try serialize(signed)
        signed.clearAccountSignatureKey()
        let reply = try serialize(signed)
        return Verified(
            account: account, deviceSignature: deviceSignature, signedDeviceIdentity: full, replyDeviceIdentity: reply)
    }

    // MARK: - The phone's side (simulator)

    /// A deliberate defect in a built `device-identity`, so tests reach each failure path.
    public enum Fault: Sendable, Hashable {
        case none
        /// The HMAC is computed correctly and then has one bit flipped.
        case badHMAC
        /// The account signature is made correctly and then has one bit flipped.
        case badAccountSignature
    }

    /// What the primary puts into `ADVDeviceIdentity`.
    public struct DeviceDetails: Sendable, Hashable {
        public var rawID: UInt32
        public var timestamp: UInt64
        public var keyIndex: UInt32
        /// Marks both the container (HMAC prefix) and the device (account-signature prefix) HOSTED.
        public var isHosted: Bool
        public init(rawID: UInt32, timestamp: UInt64, keyIndex: UInt32, isHosted: Bool = false) {
            self.rawID = rawID
            self.timestamp = timestamp
            self.keyIndex = keyIndex
            self.isHosted = isHosted
        }
    }

    /// Builds the `device-identity` bytes a primary sends in pair-success: `ADVDeviceIdentity` signed with the
    /// primary's identity key over the companion's identity, wrapped with an HMAC keyed by the adv secret.
    public static func makeDeviceIdentity(
        details: DeviceDetails, primaryIdentity: KeyPair, companionIdentityPublicKey: [UInt8],
        advSecret: [UInt8], signatureRandom: [UInt8], fault: Fault = .none
    ) throws(PairSuccessError) -> [UInt8] {
        guard advSecret.count == 32 else { throw PairSuccessError(.invalidAdvSecretLength) }
        guard companionIdentityPublicKey.count == 32 else { throw PairSuccessError(.invalidIdentityKeyLength) }
        guard signatureRandom.count == 64 else { throw PairSuccessError(.invalidRandomLength) }

        var identity = WAADVDeviceIdentity()
        identity.rawID = details.rawID
        identity.timestamp = details.timestamp
        identity.keyIndex = details.keyIndex
        if details.isHosted {
            identity.accountType = .hosted
            identity.deviceType = .hosted
        }
        let detailsBytes = try serialize(identity)

        let message = accountSignatureMessage(
            details: detailsBytes, isHosted: details.isHosted, companion: companionIdentityPublicKey)
        var accountSignature = try sign(message, with: primaryIdentity, random: signatureRandom)
        if fault == .badAccountSignature { accountSignature[0] ^= 0x01 }

        var signed = WAADVSignedDeviceIdentity()
        signed.details = Data(detailsBytes)
        signed.accountSignatureKey = Data(primaryIdentity.publicKey)
        signed.accountSignature = Data(accountSignature)
        let signedBytes = try serialize(signed)

        var container = WAADVSignedDeviceIdentityHMAC()
        container.details = Data(signedBytes)
        if details.isHosted { container.accountType = .hosted }
        let hmacPrefix = details.isHosted ? hostedPrefix : []
        var mac = Array(
            HMAC<SHA256>.authenticationCode(for: hmacPrefix + signedBytes, using: SymmetricKey(data: advSecret)))
        if fault == .badHMAC { mac[0] ^= 0x01 }
        container.hmac = Data(mac)
        return try serialize(container)
    }

    /// Checks a companion's `pair-device-sign` `device-identity` (the server's side): it must carry the
    /// details and a device signature by `companionIdentityPublicKey` over
    /// `06 01 || details || companion identity || primary identity`. Returns its `keyIndex`, which the reply's
    /// `key-index` attribute should repeat.
    public static func verifyReply(
        _ replyDeviceIdentity: [UInt8], companionIdentityPublicKey: [UInt8], primaryIdentityPublicKey: [UInt8]
    ) throws(PairSuccessError) -> UInt32 {
        guard companionIdentityPublicKey.count == 32, primaryIdentityPublicKey.count == 32 else {
            throw PairSuccessError(.invalidIdentityKeyLength)
        }
        let signed: WAADVSignedDeviceIdentity
        do { signed = try WAADVSignedDeviceIdentity(serializedBytes: replyDeviceIdentity) } catch {
            throw PairSuccessError(.malformedSignedIdentity)
        }
        let detailsBytes = Array(signed.details)
        let details: WAADVDeviceIdentity
        do { details = try WAADVDeviceIdentity(serializedBytes: detailsBytes) } catch {
            throw PairSuccessError(.malformedDeviceIdentity)
        }
        let message = deviceSignatureMessage(
            details: detailsBytes, companion: companionIdentityPublicKey, primary: primaryIdentityPublicKey)
        guard XEdDSA.verify(Array(signed.deviceSignature), of: message, publicKey: companionIdentityPublicKey) else {
            throw PairSuccessError(.deviceSignatureMismatch)
        }
        return details.keyIndex
    }

    // MARK: - Helpers

    /// The account signature covers `06 00 (06 05 for a HOSTED device) || details || companion identity`.
    static func accountSignatureMessage(details: [UInt8], isHosted: Bool, companion: [UInt8]) -> [UInt8] {
        (isHosted ? hostedPrefix : accountSignaturePrefix) + details + companion
    }

    /// The device signature covers `06 01 || details || companion identity || primary identity`.
    static func deviceSignatureMessage(details: [UInt8], companion: [UInt8], primary: [UInt8]) -> [UInt8] {
        deviceSignaturePrefix + details + companion + primary
    }

    private static func sign(
        _ message: [UInt8], with key: KeyPair, random: [UInt8]
    ) throws(PairSuccessError)
        -> [UInt8]
    {
        do {
            return try XEdDSA.sign(message, privateKey: key.privateKey, random: random)
        } catch {
            throw PairSuccessError(error.code == .invalidRandom ? .invalidRandomLength : .signingFailed)
        }
    }

    private static func serialize(_ message: some SwiftProtobuf.Message) throws(PairSuccessError) -> [UInt8] {
        do { return try message.serializedBytes() } catch { throw PairSuccessError(.signingFailed) }
    }
}

/// Why pair-success (or, on the phone's side, a pair-device-sign reply) was refused.
public struct PairSuccessError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case malformedContainer, hmacMismatch, malformedSignedIdentity, malformedDeviceIdentity
            case invalidAccountSignatureKeyLength, invalidAccountSignatureLength, signatureMismatch
            case deviceSignatureMismatch, invalidAdvSecretLength, invalidIdentityKeyLength, invalidRandomLength
            case identityMismatch, signingFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// `device-identity` is not an `ADVSignedDeviceIdentityHMAC`.
        public static let malformedContainer = Code(.malformedContainer)
        /// The HMAC does not match the current adv secret.
        public static let hmacMismatch = Code(.hmacMismatch)
        /// The HMAC-covered details are not an `ADVSignedDeviceIdentity`.
        public static let malformedSignedIdentity = Code(.malformedSignedIdentity)
        /// Its details are not an `ADVDeviceIdentity`.
        public static let malformedDeviceIdentity = Code(.malformedDeviceIdentity)
        /// `accountSignatureKey` is not 32 bytes.
        public static let invalidAccountSignatureKeyLength = Code(.invalidAccountSignatureKeyLength)
        /// `accountSignature` is not 64 bytes.
        public static let invalidAccountSignatureLength = Code(.invalidAccountSignatureLength)
        /// The account signature does not verify over our identity.
        public static let signatureMismatch = Code(.signatureMismatch)
        /// (Phone side) the companion's device signature does not verify.
        public static let deviceSignatureMismatch = Code(.deviceSignatureMismatch)
        /// The adv secret given was not 32 bytes.
        public static let invalidAdvSecretLength = Code(.invalidAdvSecretLength)
        /// An identity public key given was not 32 bytes.
        public static let invalidIdentityKeyLength = Code(.invalidIdentityKeyLength)
        /// The signing randomness was not 64 bytes.
        public static let invalidRandomLength = Code(.invalidRandomLength)
        /// ``PairSuccessCrypto/sign(_:identity:signatureRandom:)`` was given another key pair than the public
        /// key the account signature was checked against.
        public static let identityMismatch = Code(.identityMismatch)
        /// Signing or serialising failed (not expected with valid keys).
        public static let signingFailed = Code(.signingFailed)
        public var description: String {
            switch value {
            case .malformedContainer: "malformed device-identity container"
            case .hmacMismatch: "hmac mismatch"
            case .malformedSignedIdentity: "malformed signed device identity"
            case .malformedDeviceIdentity: "malformed device identity details"
            case .invalidAccountSignatureKeyLength: "invalid account signature key length"
            case .invalidAccountSignatureLength: "invalid account signature length"
            case .signatureMismatch: "account signature mismatch"
            case .deviceSignatureMismatch: "device signature mismatch"
            case .invalidAdvSecretLength: "invalid adv secret length"
            case .invalidIdentityKeyLength: "invalid identity key length"
            case .invalidRandomLength: "invalid random length"
            case .identityMismatch: "identity key mismatch"
            case .signingFailed: "signing failed"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "PairSuccessError: \(code)" }

    /// The `<error code=…>` of the iq reply (§6.3, as whatsmeow answers): 401 for an HMAC or account
    /// signature failure (wrong lengths included, as whatsmeow's check treats them), 500 otherwise.
    public var replyCode: Int {
        switch code {
        case .hmacMismatch, .signatureMismatch, .invalidAccountSignatureKeyLength, .invalidAccountSignatureLength:
            401
        default: 500
        }
    }

    /// The `<error text=…>` of the iq reply: `hmac-mismatch`, `signature-mismatch` or `internal-error`.
    public var replyText: String {
        switch code {
        case .hmacMismatch: "hmac-mismatch"
        case .signatureMismatch, .invalidAccountSignatureKeyLength, .invalidAccountSignatureLength:
            "signature-mismatch"
        default: "internal-error"
        }
    }
}
