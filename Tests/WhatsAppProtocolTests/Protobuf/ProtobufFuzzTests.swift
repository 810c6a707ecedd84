import Foundation
import SwiftProtobuf
import TestRandom
import Testing
import WhatsAppProtocol

/// Arbitrary and mutated bytes parsed as every linking-path message never crash or hang; whatever parses
/// re-serializes into bytes that parse back to the same message.
struct ProtobufFuzzTests {
    /// Real encodings to mutate: transcript payloads and handshake messages, ADV blobs, cert-chain vectors.
    static func seeds() throws -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for transcript in try TranscriptPayload.all() {
            seeds += [transcript.raw, transcript.clientHello, transcript.clientFinish]
            let payload = try WAClientPayload(serializedBytes: transcript.raw)
            if payload.hasDevicePairingData { seeds.append(Array(payload.devicePairingData.deviceProps)) }
        }
        for name in ["qr-conn1", "code-conn1"] {
            let container = try ADVProtobufTests.deviceIdentity(in: name, direction: "server->client")
            let signed = try WAADVSignedDeviceIdentityHMAC(serializedBytes: container).details
            let identity = try WAADVSignedDeviceIdentity(serializedBytes: signed).details
            seeds += [container, Array(signed), Array(identity)]
        }
        let certs = try #require(try Vectors.json("noise-certchain.json") as? [String: Any])
        for entry in try #require(certs["cases"] as? [[String: Any]]) {
            let chain = try unhex(try #require(entry["chain"] as? String))
            let parsed = try WACertChain(serializedBytes: chain)
            seeds += [chain, Array(parsed.leaf.details), Array(parsed.intermediate.details)]
        }
        return seeds
    }

    struct Outcome { var parsed = 0, rejected = 0 }

    /// Parses each input as `M`; a parsed message must survive serialize-then-parse unchanged.
    static func exercise<M: SwiftProtobuf.Message & Equatable>(_ type: M.Type, inputs: [[UInt8]]) throws -> Outcome {
        var outcome = Outcome()
        for input in inputs {
            guard let message = try? M(serializedBytes: input) else {
                outcome.rejected += 1
                continue
            }
            outcome.parsed += 1
            let again = try M(serializedBytes: try message.serializedBytes() as [UInt8])
            #expect(again == message, "\(M.self) round trip of \(hex(input))")
        }
        return outcome
    }

    static let messageTypes: [any (SwiftProtobuf.Message & Equatable).Type] = [
        WAHandshakeMessage.self, WAClientPayload.self, WADeviceProps.self, WAClientPairingProps.self,
        WACertChain.self, WACertChain.NoiseCertificate.Details.self, WAADVSignedDeviceIdentityHMAC.self,
        WAADVSignedDeviceIdentity.self, WAADVDeviceIdentity.self, WAADVKeyIndexList.self,
        WAADVSignedKeyIndexList.self, WACompanionEphemeralIdentity.self, WAProloguePayload.self,
        WAPrimaryEphemeralIdentity.self, WAPairingRequest.self, WAEncryptedPairingRequest.self,
    ]

    @Test func mutatedAndRandomBytesNeverCrash() throws {
        var random = ProtobufFuzzRandom(seed: 0x0B0F_2026)
        let seeds = try Self.seeds()
        var inputs: [[UInt8]] = []
        for _ in 0..<1500 {
            inputs.append(random.mutate(seeds.randomElement(using: &random)!))
        }
        for _ in 0..<500 {
            inputs.append(random.bytes(Int.random(in: 0...96, using: &random)))
        }
        var total = Outcome()
        for type in Self.messageTypes {
            let outcome = try Self.exercise(type, inputs: inputs)
            total.parsed += outcome.parsed
            total.rejected += outcome.rejected
        }
        // Both paths were taken, so the round-trip property was actually exercised.
        #expect(total.parsed > 1000 && total.rejected > 1000, "parsed \(total.parsed), rejected \(total.rejected)")
    }

    /// Inputs aimed at parser limits: huge declared lengths, overlong varints, deep group nesting.
    @Test func pathologicalEncodingsAreRejectedQuickly() throws {
        let hostile: [[UInt8]] = [
            [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // field 1, length ~4 GiB, no data
            [0x2A] + [UInt8](repeating: 0xFF, count: 9) + [0x01],  // 10-byte length varint
            [0x08] + [UInt8](repeating: 0x80, count: 20),  // varint that never ends
            [UInt8](repeating: 0x0B, count: 100_000),  // 100k nested start-group tags
            [UInt8](repeating: 0x2A, count: 100_000),  // length-delimited all the way down
            [0x03],  // start group with field number 0
            [0x0C],  // end group without start
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // tag overflow
        ]
        for type in Self.messageTypes {
            let outcome = try Self.exercise(type, inputs: hostile)
            #expect(outcome.rejected == hostile.count, "\(type) accepted a pathological input")
        }
    }
}
