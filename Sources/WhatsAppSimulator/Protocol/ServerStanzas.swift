import Foundation
import WhatsAppProtocol

/// The stanzas a WhatsApp server sends during linking and login, in the shapes of the spec and the
/// whatsmeow transcripts (server->client lines). Addresses are typed JIDs, as whatsmeow requires.
enum ServerStanzas {
    static let server = BinaryNode.AttributeValue.jid(.serverJID)

    /// `<iq from="s.whatsapp.net" type="set" id xmlns="md"><pair-device><ref>…</ref>…</pair-device></iq>`.
    static func pairDevice(id: String, refs: [String]) -> BinaryNode {
        BinaryNode(
            "iq", ["from": server, "type": "set", "id": .string(id), "xmlns": "md"],
            [BinaryNode("pair-device", [:], .nodes(refs.map { BinaryNode("ref", [:], .bytes(Array($0.utf8))) }))])
    }

    /// `<iq from type="result" id>` with optional children.
    static func result(id: String, _ children: [BinaryNode] = []) -> BinaryNode {
        BinaryNode(
            "iq", ["from": server, "type": "result", "id": .string(id)], children.isEmpty ? .none : .nodes(children))
    }

    /// `<iq from type="error" id><error code text [backoff]/></iq>`.
    static func error(id: String, code: Int, text: String, backoffSeconds: Int? = nil) -> BinaryNode {
        var attributes: BinaryNode.Attributes = ["code": .string(String(code)), "text": .string(text)]
        if let backoffSeconds { attributes["backoff"] = .string(String(backoffSeconds)) }
        return BinaryNode(
            "iq", ["from": server, "type": "error", "id": .string(id)], [BinaryNode("error", attributes)])
    }

    /// The answer to `companion_hello`: the ref of the code request.
    static func companionHelloResult(id: String, ref: String) -> BinaryNode {
        result(
            id: id,
            [
                BinaryNode(
                    "link_code_companion_reg", [:],
                    [
                        BinaryNode("link_code_pairing_ref", [:], .bytes(Array(ref.utf8)))
                    ])
            ])
    }

    /// `<count value=N/>` answering a prekey count query.
    static func preKeyCount(id: String, count: Int) -> BinaryNode {
        result(id: id, [BinaryNode("count", ["value": .string(String(count))])])
    }

    /// A server notification: `<notification from type id t>child</notification>`.
    static func notification(type: String, id: String, t: Date, _ child: BinaryNode) -> BinaryNode {
        BinaryNode(
            "notification",
            ["from": server, "type": .string(type), "id": .string(id), "t": .string(unix(t))], [child])
    }

    /// `primary_hello` (spec §5.6): the phone's wrapped ephemeral key and identity, and the code's ref.
    static func primaryHello(
        id: String, t: Date, wrappedPrimaryEphemeral: [UInt8], primaryIdentity: [UInt8], ref: String
    ) -> BinaryNode {
        notification(
            type: "link_code_companion_reg", id: id, t: t,
            BinaryNode(
                "link_code_companion_reg", ["stage": "primary_hello"],
                [
                    BinaryNode("link_code_pairing_wrapped_primary_ephemeral_pub", [:], .bytes(wrappedPrimaryEphemeral)),
                    BinaryNode("primary_identity_pub", [:], .bytes(primaryIdentity)),
                    BinaryNode("link_code_pairing_ref", [:], .bytes(Array(ref.utf8))),
                ]))
    }

    /// `companion_reg_refresh` (2026 addendum §A.2).
    static func companionRegRefresh(id: String, t: Date) -> BinaryNode {
        notification(type: "companion_reg_refresh", id: id, t: t, BinaryNode("companion_reg_refresh"))
    }

    /// `passkey_prologue_request` (2026 addendum §B.3) with WebAuthn request options as JSON.
    static func passkeyPrologueRequest(id: String, t: Date, challenge: [UInt8]) -> BinaryNode {
        let options =
            #"{"challenge":""# + base64URL(challenge)
            + #"","timeout":600000,"rpId":"whatsapp.com","allowCredentials":[],"userVerification":"required","extensions":{"uvm":true}}"#
        return notification(
            type: "passkey_prologue_request", id: id, t: t,
            BinaryNode("passkey_request_options", [:], .bytes(Array(options.utf8))))
    }

    /// pair-success (spec §6.1).
    static func pairSuccess(
        id: String, t: Date, deviceIdentity: [UInt8], platform: String, device: JID, lid: JID,
        businessName: String?, clientProps: [UInt8]
    ) -> BinaryNode {
        var children = [
            BinaryNode("device-identity", [:], .bytes(deviceIdentity)),
            BinaryNode("platform", ["name": .string(platform)]),
            BinaryNode("device", ["jid": .jid(device), "lid": .jid(lid)]),
        ]
        if let businessName { children.append(BinaryNode("biz", ["name": .string(businessName)])) }
        children.append(BinaryNode("client-props", [:], .bytes(clientProps)))
        return BinaryNode(
            "iq", ["from": server, "type": "set", "id": .string(id), "xmlns": "md", "t": .string(unix(t))],
            [BinaryNode("pair-success", [:], .nodes(children))])
    }

    /// `<stream:error code=…/>`, e.g. 515 "restart required" after pairing.
    static func streamError(code: Int) -> BinaryNode {
        BinaryNode("stream:error", ["code": .string(String(code))])
    }

    /// `<success>` on a login connection (spec §7.2), with the attributes a real server sends.
    static func success(t: Date, lid: JID, creation: Date) -> BinaryNode {
        BinaryNode(
            "success",
            [
                "t": .string(unix(t)), "props": "1", "abprops": "1", "location": "loopback", "lid": .jid(lid),
                "creation": .string(unix(creation)),
            ])
    }

    /// `<failure reason=…/>` (spec §7.3), e.g. 401 for an unknown device.
    static func failure(reason: Int) -> BinaryNode {
        BinaryNode("failure", ["reason": .string(String(reason)), "location": "loopback"])
    }

    static func unix(_ date: Date) -> String {
        String(UInt64(max(0, date.timeIntervalSince1970.rounded(.down))))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// Random identifiers in the forms the server uses.
enum ServerRandom {
    /// A QR ref: `2@` and base64 of random bytes, ASCII like the real ones (about 90 characters).
    static func ref() -> String {
        "2@" + Data(bytes(48)).base64EncodedString()
    }

    /// A pairing-code ref (`link_code_pairing_ref`), ASCII.
    static func codeRef() -> String {
        ServerStanzas.base64URL(bytes(24))
    }

    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
