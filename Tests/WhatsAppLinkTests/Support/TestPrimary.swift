import Foundation
import WhatsAppProtocol

/// The server and the phone ("primary") as far as a linking test needs them: the stanzas they send, built
/// with the phone-side crypto of WhatsAppProtocol so the companion's checks run for real.
struct TestPrimary {
    let identity: KeyPair
    let random: SeededLinkRandom
    var jid = JID(user: "15550001111", device: 5, server: JID.Server.whatsApp)
    var lid = JID(user: "99887766", device: 5, server: JID.Server.lid)

    init(seed: UInt64 = 4242) {
        random = SeededLinkRandom(seed: seed)
        var bytes = random.bytes(32)
        bytes[0] &= 248
        bytes[31] &= 127
        bytes[31] |= 64
        identity = try! KeyPair(privateKey: bytes)
    }

    static let server = BinaryNode.AttributeValue.jid(.serverJID)

    static let sixRefs = (1...6).map { "2@REF\($0)xyzABC+/=test" }

    func pairDevice(id: String = "pd-1", refs: [String] = sixRefs) -> BinaryNode {
        BinaryNode(
            "iq", ["from": Self.server, "type": "set", "id": .string(id), "xmlns": "md"],
            [
                BinaryNode("pair-device", [:], .nodes(refs.map { BinaryNode("ref", [:], .bytes(Array($0.utf8))) }))
            ])
    }

    /// The `device-identity` bytes for a companion with `companionIdentity` and `advSecret`.
    func deviceIdentity(
        companionIdentity: [UInt8], advSecret: [UInt8], keyIndex: UInt32 = 1, fault: PairSuccessCrypto.Fault = .none
    ) -> [UInt8] {
        try! PairSuccessCrypto.makeDeviceIdentity(
            details: PairSuccessCrypto.DeviceDetails(rawID: 2_036_956_228, timestamp: 1_795_588_699, keyIndex: keyIndex),
            primaryIdentity: identity, companionIdentityPublicKey: companionIdentity, advSecret: advSecret,
            signatureRandom: random.bytes(64), fault: fault)
    }

    func pairSuccess(
        id: String = "ps-1", deviceIdentity: [UInt8], jid: JID? = nil, lid: JID? = nil, platform: String = "android",
        business: String = "", clientProps: [UInt8]? = nil
    ) -> BinaryNode {
        var children: [BinaryNode] = [
            BinaryNode("device-identity", [:], .bytes(deviceIdentity)),
            BinaryNode("platform", ["name": .string(platform)]),
            BinaryNode("device", ["jid": .jid(jid ?? self.jid), "lid": .jid(lid ?? self.lid)]),
            BinaryNode("biz", ["name": .string(business)]),
        ]
        if let clientProps { children.append(BinaryNode("client-props", [:], .bytes(clientProps))) }
        return BinaryNode(
            "iq", ["from": Self.server, "type": "set", "id": .string(id), "xmlns": "md", "t": "1795588699"],
            [BinaryNode("pair-success", [:], .nodes(children))])
    }

    /// A pair-success the companion accepts.
    func validPairSuccess(for credentials: DeviceCredentials, id: String = "ps-1", keyIndex: UInt32 = 1) -> BinaryNode {
        pairSuccess(
            id: id,
            deviceIdentity: deviceIdentity(
                companionIdentity: credentials.identityKey.publicKey, advSecret: credentials.advSecretKey,
                keyIndex: keyIndex))
    }

    static func notification(type: String, id: String = "n-1", _ children: [BinaryNode]) -> BinaryNode {
        BinaryNode(
            "notification", ["from": server, "type": .string(type), "id": .string(id), "t": "1795588715"],
            .nodes(children))
    }

    static func regRefresh(id: String = "rr-1", child: String = "companion_reg_refresh") -> BinaryNode {
        notification(type: "companion_reg_refresh", id: id, [BinaryNode(child)])
    }

    /// The server's answer to an iq.
    static func result(id: String, _ children: [BinaryNode] = []) -> BinaryNode {
        BinaryNode("iq", ["from": server, "type": "result", "id": .string(id)], children.isEmpty ? .none : .nodes(children))
    }

    static func error(id: String, code: Int, text: String, backoff: Int? = nil) -> BinaryNode {
        var attributes: BinaryNode.Attributes = ["code": .string(String(code)), "text": .string(text)]
        if let backoff { attributes["backoff"] = .string(String(backoff)) }
        return BinaryNode("iq", ["from": server, "type": "error", "id": .string(id)], [BinaryNode("error", attributes)])
    }

    static func codeAccepted(id: String, ref: [UInt8]) -> BinaryNode {
        result(
            id: id,
            [
                BinaryNode("link_code_companion_reg", [:], [BinaryNode("link_code_pairing_ref", [:], .bytes(ref))])
            ])
    }

    /// The phone's answer to the typed code: primary_hello, and the ephemeral the phone used.
    func primaryHello(code: PairingCode, ref: [UInt8], id: String = "n-1") -> (BinaryNode, KeyPair) {
        var bytes = random.bytes(32)
        bytes[0] &= 248
        bytes[31] &= 127
        bytes[31] |= 64
        let ephemeral = try! KeyPair(privateKey: bytes)
        let wrapped = try! PairingCodeCrypto.wrapEphemeralKey(
            ephemeral.publicKey, code: code, salt: random.bytes(32), iv: random.bytes(16))
        let node = Self.notification(
            type: "link_code_companion_reg", id: id,
            [
                BinaryNode(
                    "link_code_companion_reg", ["stage": "primary_hello"],
                    [
                        BinaryNode("link_code_pairing_wrapped_primary_ephemeral_pub", [:], .bytes(wrapped)),
                        BinaryNode("primary_identity_pub", [:], .bytes(identity.publicKey)),
                        BinaryNode("link_code_pairing_ref", [:], .bytes(ref)),
                    ])
            ])
        return (node, ephemeral)
    }

    static func success(lid: String = "99887766:5@lid") -> BinaryNode {
        BinaryNode(
            "success",
            [
                "t": "1795588699", "props": "1", "abprops": "1", "location": "loopback",
                "lid": .jid(JID(lid)!), "creation": "1795588699",
            ])
    }
}
