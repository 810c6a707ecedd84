import Foundation
import SwiftProtobuf
import Testing
import WhatsAppProtocol

/// The cert-chain messages read the chains of `noise-certchain.json` (made with whatsmeow's proto definitions).
struct CertChainProtobufTests {
    @Test func everyVectorChainParsesAndRoundTrips() throws {
        let vectors = try #require(try Vectors.json("noise-certchain.json") as? [String: Any])
        let cases = try #require(vectors["cases"] as? [[String: Any]])
        let serverStatic = try unhex(try #require(vectors["server_static_public"] as? String))
        #expect(cases.count >= 5)
        for entry in cases {
            let bytes = try unhex(try #require(entry["chain"] as? String))
            let chain = try WACertChain(serializedBytes: bytes)
            #expect(try chain.serializedBytes() == bytes)
            let leaf = try WACertChain.NoiseCertificate.Details(serializedBytes: chain.leaf.details)
            let intermediate = try WACertChain.NoiseCertificate.Details(serializedBytes: chain.intermediate.details)
            #expect(chain.leaf.signature.count == 64 && chain.intermediate.signature.count == 64)
            #expect(intermediate.hasIssuerSerial && intermediate.issuerSerial == 0)
            #expect(leaf.key.count == 32 && intermediate.key.count == 32)
            #expect(leaf.notBefore < leaf.notAfter)
            if entry["name"] as? String == "valid" {
                #expect(Array(leaf.key) == serverStatic)
                #expect(leaf.issuerSerial == intermediate.serial)
            }
        }
    }
}
