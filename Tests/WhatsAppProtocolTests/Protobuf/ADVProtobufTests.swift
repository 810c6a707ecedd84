import Foundation
import SwiftProtobuf
import Testing
import WhatsAppProtocol

/// The ADV messages read the `device-identity` blobs of the transcripts' pair-success exchange.
struct ADVProtobufTests {
    /// Finds the hex content of the first `device-identity` node sent in the given direction.
    static func deviceIdentity(in name: String, direction: String) throws -> [UInt8] {
        func search(_ node: Any?) -> String? {
            guard let node = node as? [String: Any] else { return nil }
            if node["tag"] as? String == "device-identity", let content = node["content"] as? [String: Any] {
                return content["hex"] as? String
            }
            for child in node["content"] as? [Any] ?? [] {
                if let found = search(child) { return found }
            }
            return nil
        }
        for line in try Vectors.jsonLines("whatsmeow-transcripts/\(name).jsonl") where line["dir"] as? String == direction {
            if let found = search(line["node"]) { return try unhex(found) }
        }
        throw VectorError(message: "no device-identity \(direction) in \(name)")
    }

    @Test(arguments: ["qr-conn1", "code-conn1"])
    func pairSuccessDeviceIdentityParses(name: String) throws {
        let bytes = try Self.deviceIdentity(in: name, direction: "server->client")
        let container = try WAADVSignedDeviceIdentityHMAC(serializedBytes: bytes)
        #expect(container.unknownFields.data.isEmpty)
        #expect(container.hmac.count == 32)
        #expect(try container.serializedBytes() == bytes)

        let signed = try WAADVSignedDeviceIdentity(serializedBytes: container.details)
        #expect(signed.accountSignatureKey.count == 32)
        #expect(signed.accountSignature.count == 64)
        #expect(!signed.hasDeviceSignature)
        #expect(try signed.serializedBytes() == container.details)

        let identity = try WAADVDeviceIdentity(serializedBytes: signed.details)
        #expect(identity.unknownFields.data.isEmpty)
        #expect(identity.hasRawID && identity.hasTimestamp && identity.hasKeyIndex)
        #expect(try identity.serializedBytes() == signed.details)
    }

    @Test(arguments: ["qr-conn1", "code-conn1"])
    func pairDeviceSignReplyParses(name: String) throws {
        let bytes = try Self.deviceIdentity(in: name, direction: "client->server")
        let signed = try WAADVSignedDeviceIdentity(serializedBytes: bytes)
        #expect(signed.unknownFields.data.isEmpty)
        // whatsmeow strips the account signature key before replying.
        #expect(!signed.hasAccountSignatureKey)
        #expect(signed.accountSignature.count == 64 && signed.deviceSignature.count == 64)
        #expect(try signed.serializedBytes() == bytes)
    }
}
