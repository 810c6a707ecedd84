import Foundation
import SwiftProtobuf

/// Makes certificate chains a server (our loopback simulator) can send in its ServerHello.
public enum ServerCertificateChainBuilder {
    /// A serialized `CertChain` certifying `serverStaticPublicKey`, valid from `validFrom` to `validUntil`
    /// (both certificates share the window), that ``ServerCertificateVerifier`` accepts when it trusts
    /// `rootKeyPair.publicKey`.
    ///
    /// - Parameters:
    ///   - intermediateKeyPair: the key the root certifies and that signs the leaf; fresh unless given.
    ///   - intermediateSerial: the intermediate's serial, which the leaf names as its issuer.
    ///   - leafSerial: the leaf's own serial.
    public static func build(
        rootKeyPair: KeyPair,
        serverStaticPublicKey: [UInt8],
        validFrom: Date,
        validUntil: Date,
        intermediateKeyPair: KeyPair = .generate(),
        intermediateSerial: UInt32 = 1,
        leafSerial: UInt32 = 2
    ) throws(CertificateError) -> [UInt8] {
        guard serverStaticPublicKey.count == 32 else { throw CertificateError(.invalidServerStaticKey) }
        let notBefore = unixSeconds(validFrom)
        let notAfter = unixSeconds(validUntil)

        let intermediateDetails = CertificateDetails(
            serial: intermediateSerial, issuerSerial: 0, key: intermediateKeyPair.publicKey,
            notBefore: notBefore, notAfter: notAfter
        ).serialized()
        let leafDetails = CertificateDetails(
            serial: leafSerial, issuerSerial: intermediateSerial, key: serverStaticPublicKey,
            notBefore: notBefore, notAfter: notAfter
        ).serialized()

        var chain = WACertChain()
        chain.intermediate.details = Data(intermediateDetails)
        chain.intermediate.signature = Data(try sign(intermediateDetails, with: rootKeyPair))
        chain.leaf.details = Data(leafDetails)
        chain.leaf.signature = Data(try sign(leafDetails, with: intermediateKeyPair))
        // Serializing a message with only bytes fields cannot fail.
        return try! chain.serializedBytes()
    }

    private static func sign(_ message: [UInt8], with keyPair: KeyPair) throws(CertificateError) -> [UInt8] {
        do {
            return try XEdDSA.sign(message, privateKey: keyPair.privateKey)
        } catch {
            // KeyPair guarantees a 32-byte private key; only a zero nonce scalar (never in practice) lands here.
            throw CertificateError(.signingFailed)
        }
    }

    private static func unixSeconds(_ date: Date) -> UInt64 {
        UInt64(max(0, date.timeIntervalSince1970.rounded(.down)))
    }
}
