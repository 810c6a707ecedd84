import Foundation
import SwiftProtobuf
import WhatsAppProtocol

/// The pair-success exchange of a whatsmeow transcript: the test server's `device-identity`, whatsmeow's
/// `pair-device-sign` reply and whatsmeow's identity public key.
struct PairSuccessTranscript {
    let deviceIdentity: [UInt8]
    let replyDeviceIdentity: [UInt8]
    let replyKeyIndex: String
    let companionIdentityPublicKey: [UInt8]
    /// `primary_identity_pub` of `primary_hello` (pair-code transcripts only).
    let primaryIdentityPublicKey: [UInt8]?

    /// `qr-conn1` (identity from the ClientPayload's eIdent) or `code-conn1` (from `companion_identity_public`).
    static func load(_ name: String) throws -> PairSuccessTranscript {
        let lines = try Vectors.jsonLines("whatsmeow-transcripts/\(name).jsonl")
        var deviceIdentity: [UInt8]?
        var reply: [UInt8]?
        var keyIndex: String?
        var identity: [UInt8]?
        var primary: [UInt8]?
        for line in lines {
            if line["dir"] as? String == "client_payload", let raw = line["raw_hex"] as? String {
                let payload = try WAClientPayload(serializedBytes: try unhex(raw))
                identity = Array(payload.devicePairingData.eIdent)
                continue
            }
            guard let node = line["node"] as? [String: Any] else { continue }
            for child in descendants(of: node) {
                let tag = child["tag"] as? String
                let hexContent = (child["content"] as? [String: String])?["hex"]
                switch tag {
                case "device-identity":
                    guard let hexContent else { continue }
                    if let index = (child["attrs"] as? [String: String])?["key-index"] {
                        reply = try unhex(hexContent)
                        keyIndex = index
                    } else {
                        deviceIdentity = try unhex(hexContent)
                    }
                case "companion_identity_public":
                    if let hexContent { identity = try unhex(hexContent) }
                case "primary_identity_pub":
                    if let hexContent { primary = try unhex(hexContent) }
                default: break
                }
            }
        }
        guard let deviceIdentity, let reply, let keyIndex, let identity else {
            throw VectorError(message: "\(name) lacks part of the pair-success exchange")
        }
        return PairSuccessTranscript(
            deviceIdentity: deviceIdentity, replyDeviceIdentity: reply, replyKeyIndex: keyIndex,
            companionIdentityPublicKey: identity, primaryIdentityPublicKey: primary)
    }

    private static func descendants(of node: [String: Any]) -> [[String: Any]] {
        guard let children = node["content"] as? [[String: Any]] else { return [] }
        return children + children.flatMap { descendants(of: $0) }
    }
}
