import Foundation
import Testing
import WhatsAppProtocol

/// `noise-certchain.json`: chains signed with libsignal's curve code under a test root.
struct CertificateVectorTests {
    struct Vector {
        var root: [UInt8]
        var serverStatic: [UInt8]
        var now: Date
        var realRoot: [UInt8]
        var cases: [(name: String, chain: [UInt8], valid: Bool)]
    }

    static func vector() throws -> Vector {
        let root = try #require(try Vectors.json("noise-certchain.json") as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        return Vector(
            root: try unhex(try #require(root["test_root_public"] as? String)),
            serverStatic: try unhex(try #require(root["server_static_public"] as? String)),
            now: Date(timeIntervalSince1970: TimeInterval(try #require(root["check_time"] as? Int))),
            realRoot: try unhex(try #require(root["real_whatsapp_root_public"] as? String)),
            cases: try cases.map {
                (
                    try #require($0["name"] as? String), try unhex(try #require($0["chain"] as? String)),
                    try #require($0["valid"] as? Bool)
                )
            })
    }

    /// The check each invalid vector case is built to trip, by case name.
    static let expectedFailure: [String: CertificateError.Code] = [
        "signed_by_other_root": .intermediateSignatureInvalid,
        "leaf_issuer_serial_mismatch": .leafIssuerSerialMismatch,
        "leaf_key_is_not_server_static": .leafKeyMismatch,
        "leaf_expired": .leafExpired,
    ]

    @Test func everyCaseGetsItsVerdictAndErrorCode() throws {
        let vector = try Self.vector()
        let verifier = try ServerCertificateVerifier(rootPublicKey: vector.root)
        #expect(vector.cases.count == 5)
        for item in vector.cases {
            if item.valid {
                let verified = try verifier.verify(item.chain, serverStaticPublicKey: vector.serverStatic, now: vector.now)
                #expect(verified.leaf.key == vector.serverStatic)
                #expect(verified.leaf.issuerSerial == verified.intermediate.serial)
                #expect(verified.intermediate.issuerSerial == 0)
            } else {
                let code = try #require(Self.expectedFailure[item.name], "unknown case \(item.name)")
                #expect(throws: CertificateError(code), "\(item.name)") {
                    try verifier.verify(item.chain, serverStaticPublicKey: vector.serverStatic, now: vector.now)
                }
            }
        }
    }

    @Test func realRootIsTheDefaultAndRejectsTheTestChain() throws {
        let vector = try Self.vector()
        #expect(ServerCertificateVerifier.whatsAppRootPublicKey == vector.realRoot)
        #expect(ServerCertificateVerifier.whatsApp.rootPublicKey == vector.realRoot)
        let valid = try #require(vector.cases.first { $0.valid })
        #expect(throws: CertificateError(.intermediateSignatureInvalid)) {
            try ServerCertificateVerifier.whatsApp.verify(
                valid.chain, serverStaticPublicKey: vector.serverStatic, now: vector.now)
        }
    }

    @Test func validChainIsBoundToItsWindow() throws {
        let vector = try Self.vector()
        let verifier = try ServerCertificateVerifier(rootPublicKey: vector.root)
        let valid = try #require(vector.cases.first { $0.valid })
        #expect(throws: CertificateError(.intermediateExpired)) {
            try verifier.verify(
                valid.chain, serverStaticPublicKey: vector.serverStatic, now: Date(timeIntervalSince1970: 4_000_000_000))
        }
        #expect(throws: CertificateError(.intermediateNotYetValid)) {
            try verifier.verify(
                valid.chain, serverStaticPublicKey: vector.serverStatic, now: Date(timeIntervalSince1970: 1_000_000_000))
        }
    }

    @Test func rootKeyMustBe32Bytes() {
        #expect(throws: CertificateError(.invalidRootKey)) {
            try ServerCertificateVerifier(rootPublicKey: [UInt8](repeating: 1, count: 33))
        }
    }
}
