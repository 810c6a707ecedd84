import Testing

@testable import WhatsAppProtocol

@Suite struct BinaryNodeTests {
    static let sample = BinaryNode(
        "iq", ["id": "ps-1", "to": .jid(.serverJID), "type": "result"],
        [
            BinaryNode(
                "pair-device-sign", [:],
                [
                    BinaryNode("device-identity", ["key-index": "1"], .bytes([0xDE, 0xAD, 0xBE, 0xEF]))
                ]),
            BinaryNode("device", ["jid": .jid(JID(user: "1555", device: 5, server: JID.Server.whatsApp))]),
            BinaryNode("device", ["from": "@s.whatsapp.net"]),
            BinaryNode("count", [:], .string("3")),
        ])

    @Test func literalKeepsAttributeOrder() {
        #expect(Self.sample.attributes.map(\.key) == ["id", "to", "type"])
        let reversed = BinaryNode("iq", ["type": "result", "to": .jid(.serverJID), "id": "ps-1"], Self.sample.content)
        #expect(reversed != Self.sample)
    }

    @Test func attributeAccessors() {
        var node = Self.sample
        #expect(node["id"] == "ps-1")
        #expect(node["to"] == "@s.whatsapp.net")
        #expect(node.attributes["to"] == .jid(.serverJID))
        #expect(node.jid("to") == .serverJID)
        #expect(node.jid("id") == nil)
        #expect(node["missing"] == nil)

        node["id"] = "ps-2"
        node["xmlns"] = "md"
        #expect(node.attributes.map(\.key) == ["id", "to", "type", "xmlns"])
        #expect(node["id"] == "ps-2")
        node["to"] = nil
        #expect(node.attributes.map(\.key) == ["id", "type", "xmlns"])
        node.attributes["to"] = .jid(.serverJID)
        #expect(node.attributes.map(\.key) == ["id", "type", "xmlns", "to"])
    }

    @Test func jidAccessorReadsTypedAndStringForms() {
        let devices = Self.sample.children(named: "device")
        #expect(devices.count == 2)
        #expect(devices[0].jid("jid") == JID(user: "1555", device: 5, server: JID.Server.whatsApp))
        #expect(devices[0]["jid"] == "1555:5@s.whatsapp.net")
        #expect(devices[1].jid("from") == .serverJID)
    }

    @Test func childAccessorsAndContent() {
        let sign = Self.sample.child(named: "pair-device-sign")
        let identity = sign?.child(named: "device-identity")
        #expect(identity?.contentBytes == [0xDE, 0xAD, 0xBE, 0xEF])
        #expect(identity?["key-index"] == "1")
        #expect(Self.sample.child(named: "count")?.contentBytes == Array("3".utf8))
        #expect(Self.sample.child(named: "count")?.contentString == "3")
        #expect(Self.sample.contentBytes == nil)
        #expect(Self.sample.children.count == 4)
        #expect(identity?.children == [])
        #expect(BinaryNode("t", [:], .bytes([0xff])).contentString == nil)
        #expect(BinaryNode("t", [:], .jid(.serverJID)).contentString == "@s.whatsapp.net")
    }

    @Test func descriptionShowsSizesNotBytes() {
        let text = Self.sample.description
        #expect(
            text == """
                <iq id="ps-1" to="@s.whatsapp.net" type="result"><pair-device-sign><device-identity key-index="1">\
                [4 bytes]</device-identity></pair-device-sign><device jid="1555:5@s.whatsapp.net"/>\
                <device from="@s.whatsapp.net"/><count>3</count></iq>
                """)
        #expect(!text.lowercased().contains("dead"))
    }

    @Test func descriptionEscapes() {
        let node = BinaryNode("t", ["v": "a\"<b>&\n"], .string("x<y"))
        #expect(node.description == "<t v=\"a&quot;&lt;b&gt;&amp;\\u{a}\">x&lt;y</t>")
    }
}

extension BinaryNodeTests {
    @Test func stringValuesReadAsJIDsOnlyWhenTheyLookLikeOne() {
        #expect(BinaryNode.AttributeValue.string("s.whatsapp.net").jid == .serverJID)
        #expect(BinaryNode.AttributeValue.string("@s.whatsapp.net").jid == .serverJID)
        #expect(BinaryNode.AttributeValue.string("123@lid").jid == JID(user: "123", server: JID.Server.lid))
        #expect(BinaryNode.AttributeValue.string("ps-1").jid == nil)
        #expect(BinaryNode.AttributeValue.string("a@b@c").jid == nil)
    }
}
