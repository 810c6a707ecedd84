import WhatsAppProtocol

/// The stanzas the companion sends, shaped like whatsmeow's (tags, attribute keys and order, children) as
/// recorded in the transcripts, and small readers for what the server sends.
enum Stanzas {
    static let server = BinaryNode.AttributeValue.jid(.serverJID)

    // MARK: Generic

    /// `<iq id type="result" to=…/>`: the immediate answer to the server's `pair-device` iq (spec 4.1).
    static func iqResult(to: BinaryNode.AttributeValue, id: String) -> BinaryNode {
        BinaryNode("iq", ["id": .string(id), "type": "result", "to": to])
    }

    /// `<ack id to type? class participant? recipient?/>` for a notification, receipt, message or call
    /// (spec 7.5): `class` is the stanza's tag; `type` is copied except on messages.
    static func ack(for node: BinaryNode) -> BinaryNode? {
        guard let id = node.attributes["id"] else { return nil }
        var attributes: BinaryNode.Attributes = ["id": id, "to": node.attributes["from"] ?? server]
        if node.tag != "message", let type = node.attributes["type"] { attributes["type"] = type }
        attributes["class"] = .string(node.tag)
        if let participant = node.attributes["participant"] { attributes["participant"] = participant }
        if let recipient = node.attributes["recipient"] { attributes["recipient"] = recipient }
        return BinaryNode("ack", attributes)
    }

    /// `<iq to type="get" xmlns="w:p" id/>`, whatsmeow's keepalive (no child, spec 8.1).
    static func ping(id: String) -> BinaryNode {
        BinaryNode("iq", ["to": server, "type": "get", "xmlns": "w:p", "id": .string(id)])
    }

    // MARK: Pairing code (spec 5.5, 5.7)

    static func companionHello(
        id: String, phone: PhoneNumber, showPushNotification: Bool, wrappedEphemeral: [UInt8],
        noisePublicKey: [UInt8], platformID: String, platformDisplay: String
    ) -> BinaryNode {
        BinaryNode(
            "iq", ["to": server, "id": .string(id), "xmlns": "md", "type": "set"],
            [
                BinaryNode(
                    "link_code_companion_reg",
                    [
                        "should_show_push_notification": showPushNotification ? "true" : "false",
                        "jid": .jid(JID(user: phone.digits, server: JID.Server.whatsApp)),
                        "stage": "companion_hello",
                    ],
                    [
                        BinaryNode("link_code_pairing_wrapped_companion_ephemeral_pub", [:], .bytes(wrappedEphemeral)),
                        BinaryNode("companion_server_auth_key_pub", [:], .bytes(noisePublicKey)),
                        BinaryNode("companion_platform_id", [:], .string(platformID)),
                        BinaryNode("companion_platform_display", [:], .string(platformDisplay)),
                        // A single 0x00 byte, as WhatsApp Web sends it (2026 addendum §C).
                        BinaryNode("link_code_pairing_nonce", [:], .bytes([0])),
                    ])
            ])
    }

    static func companionFinish(
        id: String, phone: PhoneNumber, wrappedKeyBundle: [UInt8], identityPublicKey: [UInt8], ref: [UInt8]
    ) -> BinaryNode {
        BinaryNode(
            "iq", ["id": .string(id), "xmlns": "md", "type": "set", "to": server],
            [
                BinaryNode(
                    "link_code_companion_reg",
                    ["jid": .jid(JID(user: phone.digits, server: JID.Server.whatsApp)), "stage": "companion_finish"],
                    [
                        BinaryNode("link_code_pairing_wrapped_key_bundle", [:], .bytes(wrappedKeyBundle)),
                        BinaryNode("companion_identity_public", [:], .bytes(identityPublicKey)),
                        BinaryNode("link_code_pairing_ref", [:], .bytes(ref)),
                    ])
            ])
    }

    // MARK: pair-success (spec 6.2, 6.3)

    static func pairDeviceSign(id: String, keyIndex: UInt32, deviceIdentity: [UInt8]) -> BinaryNode {
        BinaryNode(
            "iq", ["to": server, "type": "result", "id": .string(id)],
            [
                BinaryNode(
                    "pair-device-sign", [:],
                    [
                        BinaryNode("device-identity", ["key-index": .string(String(keyIndex))], .bytes(deviceIdentity))
                    ])
            ])
    }

    static func pairError(id: String, code: Int, text: String) -> BinaryNode {
        BinaryNode(
            "iq", ["to": server, "type": "error", "id": .string(id)],
            [
                BinaryNode("error", ["code": .string(String(code)), "text": .string(text)])
            ])
    }

    // MARK: After login (spec 8.2–8.4)

    static func preKeyCount(id: String) -> BinaryNode {
        BinaryNode("iq", ["id": .string(id), "xmlns": "encrypt", "type": "get", "to": server], [BinaryNode("count")])
    }

    static func preKeyUpload(id: String, credentials: DeviceCredentials, preKeys: [PreKey]) -> BinaryNode {
        let keys = preKeys.map { key in
            BinaryNode(
                "key", [:],
                [
                    BinaryNode("id", [:], .bytes(bigEndian(key.id, bytes: 3))),
                    BinaryNode("value", [:], .bytes(key.keyPair.publicKey)),
                ])
        }
        let signed = credentials.signedPreKey
        return BinaryNode(
            "iq", ["id": .string(id), "xmlns": "encrypt", "type": "set", "to": server],
            [
                BinaryNode("registration", [:], .bytes(bigEndian(credentials.registrationID, bytes: 4))),
                BinaryNode("type", [:], .bytes([DJBKey.typeByte])),
                BinaryNode("identity", [:], .bytes(credentials.identityKey.publicKey)),
                BinaryNode("list", [:], .nodes(keys)),
                BinaryNode(
                    "skey", [:],
                    [
                        BinaryNode("id", [:], .bytes(bigEndian(signed.id, bytes: 3))),
                        BinaryNode("value", [:], .bytes(signed.keyPair.publicKey)),
                        BinaryNode("signature", [:], .bytes(signed.signature)),
                    ]),
            ])
    }

    static func passiveActive(id: String) -> BinaryNode {
        BinaryNode("iq", ["id": .string(id), "xmlns": "passive", "type": "set", "to": server], [BinaryNode("active")])
    }

    static func bigEndian(_ value: UInt32, bytes count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }

    // MARK: Reading

    /// `<error code text backoff>` of an iq error.
    struct IQError: Sendable, Hashable {
        var code: Int?
        var text: String?
        var backoffSeconds: Int?

        init(_ iq: BinaryNode) {
            let error = iq.child(named: "error")
            code = error?["code"].flatMap { Int($0) }
            text = error?["text"]
            backoffSeconds = error?["backoff"].flatMap { Int($0) }
        }
    }

    /// Whether the node's `from` is the server (or absent, as some test servers leave it).
    static func isFromServer(_ node: BinaryNode) -> Bool {
        guard let from = node.attributes["from"] else { return true }
        return from.jid == .serverJID
    }
}
