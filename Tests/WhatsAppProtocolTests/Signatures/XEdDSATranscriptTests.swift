import Foundation
import SwiftProtobuf
import Testing
import WhatsAppProtocol

/// Signatures whatsmeow (and the test server) made during real pairings verify with our verifier.
struct XEdDSATranscriptTests {
    @Test(arguments: ["qr-conn1", "code-conn1"])
    func signedPreKeySignatureVerifiesUnderIdentity(name: String) throws {
        let payload = try WAClientPayload(serializedBytes: try TranscriptPayload.load(name).raw)
        let data = payload.devicePairingData
        let identity = Array(data.eIdent)
        let message = try DJBKey.signedPreKeyMessage(Array(data.eSkeyVal))
        #expect(XEdDSA.verify(Array(data.eSkeySig), of: message, publicKey: identity))
        // The raw 32-byte key (without 0x05) is not what is signed.
        #expect(!XEdDSA.verify(Array(data.eSkeySig), of: Array(data.eSkeyVal), publicKey: identity))
    }

    /// pair-success: the account signature (`06 00 || details || identity`) by the account key, and the
    /// companion's reply with the device signature (`06 01 || details || identity || accountKey`) by its identity.
    @Test(arguments: ["qr-conn1", "code-conn1"])
    func advSignaturesVerify(name: String) throws {
        let payload = try WAClientPayload(serializedBytes: try TranscriptPayload.load(name).raw)
        let identity = Array(payload.devicePairingData.eIdent)
        let container = try WAADVSignedDeviceIdentityHMAC(
            serializedBytes: try ADVProtobufTests.deviceIdentity(in: name, direction: "server->client"))
        let received = try WAADVSignedDeviceIdentity(serializedBytes: container.details)
        let accountKey = Array(received.accountSignatureKey)
        let details = Array(received.details)
        #expect(XEdDSA.verify(Array(received.accountSignature), of: [6, 0] + details + identity, publicKey: accountKey))

        let reply = try WAADVSignedDeviceIdentity(
            serializedBytes: try ADVProtobufTests.deviceIdentity(in: name, direction: "client->server"))
        #expect(reply.details == received.details)
        #expect(
            XEdDSA.verify(
                Array(reply.deviceSignature), of: [6, 1] + details + identity + accountKey, publicKey: identity))
    }
}
