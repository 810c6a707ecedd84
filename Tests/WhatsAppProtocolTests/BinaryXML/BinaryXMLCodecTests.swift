import Testing

@testable import WhatsAppProtocol

/// Wire details not covered by the vector files, with expected bytes written out by hand from section 3
/// of the linking spec. Token bytes used: `t` 0x1a, `v` 0x51, `enc` 0x1d, `1` 0x55, `msgr` 0xcc,
/// `s.whatsapp.net` 0x03, `g.us` 0x1c, `lid` 0x76. (`11`, `12` and `42` are tokens too, so numbers
/// used to test packing avoid them.)
@Suite struct BinaryXMLCodecTests {
    /// `<t v="value"/>` as bytes: LIST_8 3, `t`, `v`, then `value`.
    static func tv(_ value: [UInt8]) -> [UInt8] { [0xf8, 0x03, 0x1a, 0x51] + value }

    static func decodeError(_ bytes: [UInt8]) -> BinaryXMLError.Code? {
        do {
            _ = try BinaryXML.decode(bytes)
            return nil
        } catch {
            return error.code
        }
    }

    static func encodeError(_ node: BinaryNode) -> BinaryXMLError.Code? {
        do {
            _ = try BinaryXML.encode(node)
            return nil
        } catch {
            return error.code
        }
    }

    static func checkValue(
        _ value: BinaryNode.AttributeValue, _ expected: [UInt8], packing: BinaryXML.StringPacking = .packed
    )
        throws
    {
        let node = BinaryNode("t", ["v": value])
        #expect(hex(try BinaryXML.encode(node, packing: packing)) == hex(tv(expected)), "\(value)")
        #expect(try BinaryXML.decode(tv(expected)) == node, "\(value)")
    }

    // MARK: - Strings

    @Test func packedStringsPadOddLengths() throws {
        try Self.checkValue("98", [0xff, 0x01, 0x98])
        try Self.checkValue("123", [0xff, 0x82, 0x12, 0x3f])
        try Self.checkValue("-.0", [0xff, 0x82, 0xab, 0x0f])
        try Self.checkValue("0A", [0xfb, 0x01, 0x0a])
        try Self.checkValue("ABC", [0xfb, 0x82, 0xab, 0xcf])
        try Self.checkValue("9F9", [0xfb, 0x82, 0x9f, 0x9f])
    }

    @Test func preferenceIsTokenThenNibbleThenHexThenRaw() throws {
        try Self.checkValue("1", [0x55])
        try Self.checkValue("99", [0xff, 0x01, 0x99])
        try Self.checkValue("1A", [0xfb, 0x01, 0x1a])
        // Lower-case hex is not packed.
        try Self.checkValue("1a", [0xfc, 0x02, 0x31, 0x61])
        try Self.checkValue("1.a", [0xfc, 0x03, 0x31, 0x2e, 0x61])
        // The empty string is written raw.
        try Self.checkValue("", [0xfc, 0x00])
        // With raw packing only tokens stay short.
        try Self.checkValue("1", [0x55], packing: .raw)
        try Self.checkValue("99", [0xfc, 0x02, 0x39, 0x39], packing: .raw)
    }

    @Test func packingStopsAt127Characters() throws {
        let max = String(repeating: "7", count: 127)
        try Self.checkValue(.string(max), [0xff, 0x80 | 64] + [UInt8](repeating: 0x77, count: 63) + [0x7f])
        let over = String(repeating: "7", count: 128)
        try Self.checkValue(.string(over), [0xfc, 128] + [UInt8](repeating: 0x37, count: 128))
    }

    @Test func packedDigitsAreValidated() {
        #expect(Self.decodeError(Self.tv([0xff, 0x01, 0x1c])) == .invalidPackedDigit)
        #expect(Self.decodeError(Self.tv([0xff, 0x01, 0xf1])) == .invalidPackedDigit)
        #expect(Self.decodeError(Self.tv([0xff, 0x80])) == .invalidPackedDigit)
        #expect(Self.decodeError(Self.tv([0xff, 0x05, 0x12])) == .truncated)
        // The dropped half of an odd-length string is not looked at.
        #expect(Self.decodeError(Self.tv([0xff, 0x81, 0x1c])) == nil)
    }

    @Test func rawStringsMustBeUTF8() throws {
        #expect(Self.decodeError(Self.tv([0xfc, 0x01, 0xff])) == .invalidUTF8)
        try Self.checkValue("héllo", [0xfc, 0x06, 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f])
    }

    @Test func otherFormsOfTheEmptyStringAreAccepted() throws {
        #expect(try BinaryXML.decode(Self.tv([0x00])) == BinaryNode("t", ["v": ""]))
        // whatsmeow writes "" content as NIBBLE_8 with no digits.
        #expect(try BinaryXML.decode(Self.tv([0xff, 0x00])) == BinaryNode("t", ["v": ""]))
        #expect(try BinaryXML.decode([0xf8, 0x02, 0x1a, 0xff, 0x00]) == BinaryNode("t", [:], .string("")))
    }

    // MARK: - Binary content

    /// `<enc>` + BINARY of `count` bytes, checked both ways, with the header the spec gives for the length.
    @Test(
        arguments: [
            (0, [0xfc, 0x00]), (255, [0xfc, 0xff]), (256, [0xfd, 0x00, 0x01, 0x00]),
            ((1 << 20) - 1, [0xfd, 0x0f, 0xff, 0xff]), (1 << 20, [0xfe, 0x00, 0x10, 0x00, 0x00]),
        ] as [(Int, [UInt8])])
    func binaryLengthClasses(count: Int, header: [UInt8]) throws {
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let node = BinaryNode("enc", [:], .bytes(payload))
        let expected = [0xf8, 0x02, 0x1d] + header + payload
        #expect(try BinaryXML.encode(node) == expected)
        #expect(try BinaryXML.decode(expected) == node)
    }

    @Test func longerLengthClassesAreAcceptedForShortData() throws {
        let node = BinaryNode("enc", [:], .bytes([1, 2]))
        #expect(try BinaryXML.decode([0xf8, 0x02, 0x1d, 0xfe, 0, 0, 0, 2, 1, 2]) == node)
        #expect(try BinaryXML.decode([0xf8, 0x02, 0x1d, 0xfd, 0, 0, 2, 1, 2]) == node)
    }

    @Test func contentStringsThatAreNotPackedReadBackAsBytes() throws {
        let encoded = try BinaryXML.encode(BinaryNode("t", [:], .string("hello")))
        #expect(encoded == [0xf8, 0x02, 0x1a, 0xfc, 0x05] + Array("hello".utf8))
        #expect(try BinaryXML.decode(encoded).content == .bytes(Array("hello".utf8)))
        let token = BinaryNode("t", [:], .string("1"))
        #expect(try BinaryXML.decode(try BinaryXML.encode(token)) == token)
    }

    // MARK: - Lists

    @Test func emptyChildListDiffersFromNoContent() throws {
        let empty = BinaryNode("t", [:], .nodes([]))
        #expect(try BinaryXML.encode(empty) == [0xf8, 0x02, 0x1a, 0x00])
        #expect(try BinaryXML.decode([0xf8, 0x02, 0x1a, 0x00]) == empty)
        #expect(try BinaryXML.encode(BinaryNode("t")) == [0xf8, 0x01, 0x1a])
    }

    @Test func list16ForLargeNodesAndChildLists() throws {
        let children = [BinaryNode](repeating: BinaryNode("t"), count: 256)
        let parent = BinaryNode("t", [:], .nodes(children))
        let expected: [UInt8] = [0xf8, 0x02, 0x1a, 0xf9, 0x01, 0x00] + (0..<256).flatMap { _ in [0xf8, 0x01, 0x1a] as [UInt8] }
        #expect(try BinaryXML.encode(parent) == expected)
        #expect(try BinaryXML.decode(expected) == parent)

        var attributes = BinaryNode.Attributes()
        for index in 0..<128 { attributes["k\(index)"] = "" }
        let wide = BinaryNode("t", attributes)
        let encoded = try BinaryXML.encode(wide)
        #expect(Array(encoded.prefix(4)) == [0xf9, 0x01, 0x01, 0x1a])  // 1 + 2·128 = 257
        #expect(try BinaryXML.decode(encoded) == wide)
    }

    @Test func tooLargeNodesAreRefused() {
        let children = [BinaryNode](repeating: BinaryNode("t"), count: 65536)
        #expect(Self.encodeError(BinaryNode("t", [:], .nodes(children))) == .tooLarge)
        var attributes = BinaryNode.Attributes()
        for index in 0..<32768 { attributes.append(.init(key: "k\(index)", value: "")) }
        #expect(Self.encodeError(BinaryNode("t", attributes)) == .tooLarge)
    }

    // MARK: - JIDs

    @Test func adJIDDomains() throws {
        try Self.checkValue(.jid(JID(user: "1", device: 2, server: JID.Server.lid)), [0xf7, 0x01, 0x02, 0x55])
        try Self.checkValue(.jid(JID(user: "1", server: JID.Server.hosted)), [0xf7, 0x80, 0x00, 0x55])
        try Self.checkValue(.jid(JID(user: "1", device: 9, server: JID.Server.hostedLID)), [0xf7, 0x81, 0x09, 0x55])
        try Self.checkValue(
            .jid(JID(user: "98", agent: 7, device: 3, server: JID.Server.whatsApp)),
            [0xf7, 0x07, 0x03, 0xff, 0x01, 0x98])
        // Device 0 on s.whatsapp.net and lid is a JID_PAIR.
        try Self.checkValue(.jid(JID(user: "1", server: JID.Server.lid)), [0xfa, 0x55, 0x76])
        try Self.checkValue(.jid(JID(user: "1", server: JID.Server.whatsApp)), [0xfa, 0x55, 0x03])
    }

    @Test func adJIDWithDeviceZeroIsAccepted() throws {
        // Baileys writes any `user:0@…` as AD_JID.
        let node = try BinaryXML.decode(Self.tv([0xf7, 0x00, 0x00, 0x55]))
        #expect(node.jid("v") == JID(user: "1", server: JID.Server.whatsApp))
    }

    @Test func fbAndInteropJIDs() throws {
        try Self.checkValue(
            .jid(JID(user: "98", device: 513, server: JID.Server.messenger)),
            [0xf6, 0xff, 0x01, 0x98, 0x02, 0x01, 0xcc])
        try Self.checkValue(
            .jid(JID(user: "98", device: 1, integrator: 258, server: JID.Server.interop)),
            [0xf5, 0xff, 0x01, 0x98, 0x00, 0x01, 0x01, 0x02, 0xfc, 0x07] + Array("interop".utf8))
        #expect(Self.decodeError(Self.tv([0xf6, 0x55, 0x00, 0x01, 0x03])) == .invalidJID)
        #expect(Self.decodeError(Self.tv([0xf5, 0x55, 0x00, 0x01, 0x00, 0x01, 0xcc])) == .invalidJID)
    }

    @Test func jidPairs() throws {
        try Self.checkValue(.jid(.serverJID), [0xfa, 0x00, 0x03])
        try Self.checkValue(.jid(JID(user: "120363", server: JID.Server.group)), [0xfa, 0xff, 0x03, 0x12, 0x03, 0x63, 0x1c])
        #expect(Self.decodeError(Self.tv([0xfa, 0x55, 0x00])) == .invalidJID)
        #expect(Self.decodeError(Self.tv([0xfa, 0x55, 0xfc, 0x00])) == .invalidJID)
        #expect(Self.decodeError(Self.tv([0xfa, 0xfa, 0x00, 0x03, 0x03])) == .invalidTagByte)
    }

    @Test func jidsWithoutAWireFormAreRefused() {
        #expect(Self.encodeError(BinaryNode("t", ["v": .jid(JID(user: "1", server: ""))])) == .invalidJID)
        #expect(Self.encodeError(BinaryNode("t", ["v": .jid(JID(user: "1", device: 256, server: "lid"))])) == .invalidJID)
        #expect(
            Self.encodeError(BinaryNode("t", ["v": .jid(JID(user: "1", agent: 1, server: JID.Server.whatsApp))]))
                == .invalidJID)
    }

    @Test func jidContent() throws {
        let node = BinaryNode("t", [:], .jid(JID(user: "1", device: 2, server: JID.Server.whatsApp)))
        let expected: [UInt8] = [0xf8, 0x02, 0x1a, 0xf7, 0x00, 0x02, 0x55]
        #expect(try BinaryXML.encode(node) == expected)
        #expect(try BinaryXML.decode(expected) == node)
    }

    // MARK: - Malformed input

    @Test func malformedNodesHaveSpecificErrors() {
        #expect(Self.decodeError([]) == .truncated)
        #expect(Self.decodeError([0xf8]) == .truncated)
        #expect(Self.decodeError([0xf8, 0x00]) == .invalidNode)
        #expect(Self.decodeError([0x00]) == .invalidNode)
        #expect(Self.decodeError([0xf8, 0x01, 0x00]) == .invalidNode)
        #expect(Self.decodeError([0xf8, 0x01, 0xfc, 0x00]) == .invalidNode)
        #expect(Self.decodeError([0xfc, 0x01, 0x1a]) == .invalidTagByte)
        #expect(Self.decodeError([0xf8, 0x01, 0xf0]) == .invalidTagByte)
        #expect(Self.decodeError([0xf8, 0x01, 0xec]) == .truncated)
        #expect(Self.decodeError([0xf8, 0x01, 0xfa, 0x00, 0x03]) == .invalidTagByte)
        #expect(Self.decodeError([0xf8, 0x03, 0x1a, 0xfa, 0x00, 0x03, 0x51]) == .invalidTagByte)
        #expect(Self.decodeError(Self.tv([0xf8, 0x01, 0x1a])) == .invalidTagByte)
        #expect(Self.decodeError([0xf8, 0x01, 0x1a, 0x1a]) == .trailingBytes)
        #expect(Self.decodeError([0xf8, 0x02, 0x1a, 0xf4]) == .invalidTagByte)
    }

    @Test func hugeDeclaredSizesFailWithoutAllocating() {
        #expect(Self.decodeError([0xf8, 0x02, 0x1d, 0xfe, 0xff, 0xff, 0xff, 0xff]) == .truncated)
        #expect(Self.decodeError([0xf8, 0x02, 0x1d, 0xfd, 0x0f, 0xff, 0xff, 0x00]) == .truncated)
        #expect(Self.decodeError([0xf8, 0x02, 0x1d, 0xf9, 0xff, 0xff, 0xf8, 0x01, 0x1d]) == .truncated)
        #expect(Self.decodeError([0xf9, 0xff, 0xff, 0x1d, 0x51, 0x55]) == .truncated)
    }

    @Test func errorsCarryOffsets() {
        #expect(throws: BinaryXMLError(.invalidTagByte, offset: 2)) { try BinaryXML.decode([0xf8, 0x01, 0xf0]) }
        #expect(throws: BinaryXMLError(.invalidTagByte, offset: 2)) { try BinaryXML.decodeFrame([0x00, 0xf8, 0x01, 0xf0]) }
    }

    @Test func nestingIsBounded() throws {
        func nested(_ depth: Int) -> [UInt8] {
            [UInt8]((0..<(depth - 1)).flatMap { _ in [0xf8, 0x02, 0x1a, 0xf8, 0x01] as [UInt8] }) + [0xf8, 0x01, 0x1a]
        }
        let deepest = try BinaryXML.decode(nested(BinaryXML.maxDepth))
        #expect(try BinaryXML.encode(deepest) == nested(BinaryXML.maxDepth))
        #expect(Self.decodeError(nested(BinaryXML.maxDepth + 1)) == .depthExceeded)

        var tooDeep = BinaryNode("t")
        for _ in 0..<BinaryXML.maxDepth { tooDeep = BinaryNode("t", [:], [tooDeep]) }
        #expect(Self.encodeError(tooDeep) == .depthExceeded)
    }
}
