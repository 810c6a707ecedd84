import Foundation
import SwiftProtobuf
import Testing
import WhatsAppProtocol

/// The builder's chains pass, and hand-made chains trip each check with its own code, in whatsmeow's order.
struct CertificateChainBuilderTests {
    let root = KeyPair.generate()
    let intermediateKey = KeyPair.generate()
    let serverStatic = KeyPair.generate().publicKey
    let now = Date(timeIntervalSince1970: 1_767_312_000)

    var verifier: ServerCertificateVerifier { get throws { try ServerCertificateVerifier(rootPublicKey: root.publicKey) } }

    @Test func builtChainVerifies() throws {
        let chain = try ServerCertificateChainBuilder.build(
            rootKeyPair: root, serverStaticPublicKey: serverStatic,
            validFrom: now.addingTimeInterval(-60), validUntil: now.addingTimeInterval(86_400),
            intermediateKeyPair: intermediateKey, intermediateSerial: 7, leafSerial: 99)
        let verified = try verifier.verify(chain, serverStaticPublicKey: serverStatic, now: now)
        #expect(verified.intermediate.serial == 7 && verified.intermediate.issuerSerial == 0)
        #expect(verified.intermediate.key == intermediateKey.publicKey)
        #expect(verified.leaf.serial == 99 && verified.leaf.issuerSerial == 7)
        #expect(verified.leaf.key == serverStatic)
        #expect(throws: CertificateError(.intermediateSignatureInvalid)) {
            try ServerCertificateVerifier(rootPublicKey: KeyPair.generate().publicKey)
                .verify(chain, serverStaticPublicKey: serverStatic, now: now)
        }
        #expect(throws: CertificateError(.leafKeyMismatch)) {
            try verifier.verify(chain, serverStaticPublicKey: KeyPair.generate().publicKey, now: now)
        }
        #expect(throws: CertificateError(.invalidServerStaticKey)) {
            try ServerCertificateChainBuilder.build(
                rootKeyPair: root, serverStaticPublicKey: [1, 2, 3], validFrom: now, validUntil: now)
        }
    }

    // MARK: - Hand-made chains

    func details(serial: UInt32, issuer: UInt32, key: [UInt8], from: Int = -60, until: Int = 60) -> [UInt8] {
        var message = WACertChain.NoiseCertificate.Details()
        message.serial = serial
        message.issuerSerial = issuer
        message.key = Data(key)
        message.notBefore = UInt64(Int(now.timeIntervalSince1970) + from)
        message.notAfter = UInt64(Int(now.timeIntervalSince1970) + until)
        return try! message.serializedBytes()
    }

    func chain(
        intermediate: [UInt8]? = nil, leaf: [UInt8]? = nil, intermediateSigner: KeyPair? = nil,
        leafSigner: KeyPair? = nil, edit: (inout WACertChain) -> Void = { _ in }
    ) throws -> [UInt8] {
        let intermediateDetails = intermediate ?? details(serial: 7, issuer: 0, key: intermediateKey.publicKey)
        let leafDetails = leaf ?? details(serial: 99, issuer: 7, key: serverStatic)
        var message = WACertChain()
        message.intermediate.details = Data(intermediateDetails)
        message.intermediate.signature = Data(
            try XEdDSA.sign(intermediateDetails, privateKey: (intermediateSigner ?? root).privateKey))
        message.leaf.details = Data(leafDetails)
        message.leaf.signature = Data(try XEdDSA.sign(leafDetails, privateKey: (leafSigner ?? intermediateKey).privateKey))
        edit(&message)
        return try message.serializedBytes()
    }

    func expect(_ code: CertificateError.Code, _ chain: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let verifier = try self.verifier
        #expect(throws: CertificateError(code), sourceLocation: sourceLocation) {
            try verifier.verify(chain, serverStaticPublicKey: serverStatic, now: now)
        }
    }

    @Test func handMadeBaselineVerifies() throws {
        try verifier.verify(try chain(), serverStaticPublicKey: serverStatic, now: now)
    }

    @Test func eachCheckHasItsOwnCode() throws {
        try expect(.malformedChain, [0xFF, 0xFF, 0xFF])
        try expect(.missingField, try chain { $0.clearLeaf() })
        try expect(.missingField, try chain { $0.clearIntermediate() })
        try expect(.missingField, try chain { $0.leaf.clearSignature() })
        try expect(.missingField, try chain { $0.intermediate.clearDetails() })
        try expect(.invalidSignatureLength, try chain { $0.leaf.signature.removeLast() })
        try expect(.invalidSignatureLength, try chain { $0.intermediate.signature.append(0) })
        try expect(.intermediateSignatureInvalid, try chain(intermediateSigner: intermediateKey))
        try expect(.malformedIntermediateDetails, try chain(intermediate: [0x0A, 0x05, 0x01]))
        try expect(
            .intermediateIssuerSerialNotZero, try chain(intermediate: details(serial: 7, issuer: 3, key: intermediateKey.publicKey)))
        try expect(
            .intermediateKeyInvalidLength, try chain(intermediate: details(serial: 7, issuer: 0, key: [5] + intermediateKey.publicKey)))
        try expect(.leafSignatureInvalid, try chain(leafSigner: root))
        try expect(
            .intermediateNotYetValid,
            try chain(intermediate: details(serial: 7, issuer: 0, key: intermediateKey.publicKey, from: 1, until: 60)))
        try expect(
            .intermediateExpired,
            try chain(intermediate: details(serial: 7, issuer: 0, key: intermediateKey.publicKey, from: -60, until: -1)))
        try expect(.malformedLeafDetails, try chain(leaf: [0x0A, 0x05, 0x01]))
        try expect(.leafIssuerSerialMismatch, try chain(leaf: details(serial: 99, issuer: 8, key: serverStatic)))
        try expect(.leafKeyMismatch, try chain(leaf: details(serial: 99, issuer: 7, key: intermediateKey.publicKey)))
        try expect(.leafKeyMismatch, try chain(leaf: details(serial: 99, issuer: 7, key: Array(serverStatic.prefix(31)))))
        try expect(.leafNotYetValid, try chain(leaf: details(serial: 99, issuer: 7, key: serverStatic, from: 1, until: 60)))
        try expect(.leafExpired, try chain(leaf: details(serial: 99, issuer: 7, key: serverStatic, from: -60, until: -1)))
    }

    @Test func windowBoundsAreInclusive() throws {
        try verifier.verify(
            try chain(leaf: details(serial: 99, issuer: 7, key: serverStatic, from: 0, until: 0)),
            serverStaticPublicKey: serverStatic, now: now)
    }

    /// With several faults, the one whatsmeow checks first is reported.
    @Test func checksRunInWhatsmeowOrder() throws {
        let expiredIntermediate = details(serial: 7, issuer: 0, key: intermediateKey.publicKey, from: -60, until: -1)
        let badLeaf = details(serial: 99, issuer: 8, key: intermediateKey.publicKey, from: -60, until: -1)
        // Leaf signature (4) before intermediate window (5).
        try expect(.leafSignatureInvalid, try chain(intermediate: expiredIntermediate, leaf: badLeaf, leafSigner: root))
        // Intermediate window (5) before leaf issuer (6).
        try expect(.intermediateExpired, try chain(intermediate: expiredIntermediate, leaf: badLeaf))
        // Leaf issuer (6) before leaf key (7) before leaf window (8).
        try expect(.leafIssuerSerialMismatch, try chain(leaf: badLeaf))
        try expect(
            .leafKeyMismatch, try chain(leaf: details(serial: 99, issuer: 7, key: intermediateKey.publicKey, from: -60, until: -1)))
        // Root signature (2) before intermediate issuer (3).
        try expect(
            .intermediateSignatureInvalid,
            try chain(intermediate: details(serial: 7, issuer: 3, key: intermediateKey.publicKey), intermediateSigner: intermediateKey))
    }
}
