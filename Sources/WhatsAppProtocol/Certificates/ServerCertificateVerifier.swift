import CSodium
import Foundation
import SwiftProtobuf

/// Checks the certificate chain a server sends (encrypted) in the Noise ServerHello, exactly as whatsmeow does:
/// the root signs the intermediate, the intermediate signs the leaf, and the leaf certifies the server static
/// key of this very handshake. Section 1.6 of whatsapp-linking-protocol.md.
public struct ServerCertificateVerifier: Sendable, Hashable {
    /// WhatsApp's root public key (raw Curve25519), which signs the real servers' intermediates.
    public static let whatsAppRootPublicKey: [UInt8] = [
        0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
        0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
    ]

    /// A verifier trusting WhatsApp's real root.
    public static let whatsApp = ServerCertificateVerifier(trusting: whatsAppRootPublicKey)

    /// The raw 32-byte Curve25519 key trusted to sign intermediates.
    public let rootPublicKey: [UInt8]

    /// A verifier trusting another root, e.g. a loopback simulator's (nobody outside WhatsApp has the real one).
    public init(rootPublicKey: [UInt8]) throws(CertificateError) {
        guard rootPublicKey.count == 32 else { throw CertificateError(.invalidRootKey) }
        self.init(trusting: rootPublicKey)
    }

    private init(trusting rootPublicKey: [UInt8]) {
        self.rootPublicKey = rootPublicKey
    }

    /// Verifies a serialized `CertChain` against the server static key `rs` learned in the same handshake.
    ///
    /// The checks run in whatsmeow's order and the first failure is thrown; `now` decides the validity windows.
    @discardableResult
    public func verify(
        _ chain: [UInt8], serverStaticPublicKey: [UInt8], now: Date
    ) throws(CertificateError) -> VerifiedCertificateChain {
        guard let parsed = try? WACertChain(serializedBytes: chain) else { throw CertificateError(.malformedChain) }

        // 1. Presence and signature lengths.
        guard parsed.hasLeaf, parsed.hasIntermediate,
            parsed.leaf.hasDetails, parsed.leaf.hasSignature,
            parsed.intermediate.hasDetails, parsed.intermediate.hasSignature
        else { throw CertificateError(.missingField) }
        let leafDetailsBytes = Array(parsed.leaf.details)
        let leafSignature = Array(parsed.leaf.signature)
        let intermediateDetailsBytes = Array(parsed.intermediate.details)
        let intermediateSignature = Array(parsed.intermediate.signature)
        guard leafSignature.count == 64, intermediateSignature.count == 64 else {
            throw CertificateError(.invalidSignatureLength)
        }

        // 2. The root signed the raw intermediate details bytes.
        guard XEdDSA.verify(intermediateSignature, of: intermediateDetailsBytes, publicKey: rootPublicKey) else {
            throw CertificateError(.intermediateSignatureInvalid)
        }

        // 3. The intermediate is issued by the root and holds a usable key.
        guard let intermediateMessage = try? WACertChain.NoiseCertificate.Details(serializedBytes: intermediateDetailsBytes)
        else { throw CertificateError(.malformedIntermediateDetails) }
        let intermediate = CertificateDetails(intermediateMessage)
        guard intermediate.issuerSerial == 0 else { throw CertificateError(.intermediateIssuerSerialNotZero) }
        guard intermediate.key.count == 32 else { throw CertificateError(.intermediateKeyInvalidLength) }

        // 4. The intermediate signed the raw leaf details bytes.
        guard XEdDSA.verify(leafSignature, of: leafDetailsBytes, publicKey: intermediate.key) else {
            throw CertificateError(.leafSignatureInvalid)
        }

        // 5. The intermediate is in its validity window.
        switch intermediate.validity(at: now) {
        case .notYetValid: throw CertificateError(.intermediateNotYetValid)
        case .expired: throw CertificateError(.intermediateExpired)
        case .valid: break
        }

        // 6. The leaf names the intermediate as its issuer.
        guard let leafMessage = try? WACertChain.NoiseCertificate.Details(serializedBytes: leafDetailsBytes) else {
            throw CertificateError(.malformedLeafDetails)
        }
        let leaf = CertificateDetails(leafMessage)
        guard leaf.issuerSerial == intermediate.serial else { throw CertificateError(.leafIssuerSerialMismatch) }

        // 7. The leaf certifies this handshake's server static key (constant-time, as for any secret-adjacent compare).
        guard leaf.key.count == serverStaticPublicKey.count, !leaf.key.isEmpty,
            sodium_memcmp(leaf.key, serverStaticPublicKey, leaf.key.count) == 0
        else { throw CertificateError(.leafKeyMismatch) }

        // 8. The leaf is in its validity window.
        switch leaf.validity(at: now) {
        case .notYetValid: throw CertificateError(.leafNotYetValid)
        case .expired: throw CertificateError(.leafExpired)
        case .valid: break
        }

        return VerifiedCertificateChain(intermediate: intermediate, leaf: leaf)
    }
}

/// The two certificates of a chain that passed every check.
public struct VerifiedCertificateChain: Sendable, Hashable {
    /// Signed by the root; its key signs the leaf.
    public let intermediate: CertificateDetails
    /// Certifies the server static key.
    public let leaf: CertificateDetails
}
