import Testing

@testable import WhatsAppProtocol

@Suite struct BinaryXMLTokenTests {
    /// The generated Swift tables must equal the vector file (rerun scripts/generate-tokens if not).
    @Test func generatedTablesMatchVectorFile() throws {
        let file = try OrderedJSON.file("wabinary-tokens.json")
        let single = try #require(file["single_byte_tokens"]?.array).compactMap(\.string)
        let double = try #require(file["double_byte_tokens"]?.array).map { try #require($0.array).compactMap(\.string) }
        #expect(BinaryXMLTokens.singleByte == single)
        #expect(BinaryXMLTokens.doubleByte == double)
        #expect(single.count == 236)
        #expect(double.map(\.count) == [256, 256, 256, 256])
    }

    @Test func everyTokenLooksUpBothWays() throws {
        for index in 1..<236 {
            let string = try #require(BinaryXMLTokens.single(UInt8(index)))
            #expect(BinaryXMLTokens.token(for: string) == .single(UInt8(index)))
        }
        for dictionary in 0..<4 {
            for index in 0..<256 {
                let string = try #require(BinaryXMLTokens.double(dictionary: dictionary, index: UInt8(index)))
                #expect(BinaryXMLTokens.token(for: string) == .double(dictionary: UInt8(dictionary), index: UInt8(index)))
            }
        }
        #expect(BinaryXMLTokens.single(0) == nil)
        #expect(BinaryXMLTokens.single(236) == nil)
        #expect(BinaryXMLTokens.double(dictionary: 4, index: 0) == nil)
        #expect(BinaryXMLTokens.token(for: "") == nil)
        #expect(BinaryXMLTokens.token(for: "pair-success") == nil)
    }

    /// Indices listed in section 3.5 of the linking spec.
    @Test func specIndices() {
        let single: [(String, UInt8)] = [
            ("s.whatsapp.net", 3), ("type", 4), ("from", 6), ("id", 8), ("notification", 9), ("iq", 25), ("0", 45),
            ("device", 59), ("success", 76), ("1", 85), ("ping", 86), ("w:p", 87), ("set", 90), ("lid", 118),
            ("stream:error", 157), ("error", 168), ("encrypt", 203), ("device-identity", 230),
        ]
        for (string, index) in single {
            #expect(BinaryXMLTokens.token(for: string) == .single(index), "\(string)")
        }
        let double: [(String, UInt8, UInt8)] = [
            ("active", 0, 1), ("conflict", 0, 14), ("passive", 0, 24), ("stage", 0, 139), ("ref", 1, 80),
            ("pair-device", 1, 238), ("failure", 2, 60), ("biz", 2, 84), ("rate-overlimit", 2, 239),
        ]
        for (string, dictionary, index) in double {
            #expect(BinaryXMLTokens.token(for: string) == .double(dictionary: dictionary, index: index), "\(string)")
        }
        for raw in ["md", "pair-success", "pair-device-sign", "ib", "link_code_companion_reg", "companion_hello"] {
            #expect(BinaryXMLTokens.token(for: raw) == nil, "\(raw)")
        }
    }

    /// Every token decodes from its tag byte(s) in every string position.
    @Test func tokenBytesDecode() throws {
        for index in UInt8(1)...235 {
            let node = try BinaryXML.decode([0xf8, 0x03, index, index, index])
            let string = BinaryXMLTokens.singleByte[Int(index)]
            #expect(node == BinaryNode(string, BinaryNode.Attributes([.init(key: string, value: .string(string))])))
        }
        for dictionary in UInt8(0)...3 {
            for index in UInt8(0)...255 {
                let node = try BinaryXML.decode([0xf8, 0x02, 0xec + dictionary, index, 0xec + dictionary, index])
                let string = BinaryXMLTokens.doubleByte[Int(dictionary)][Int(index)]
                #expect(node == BinaryNode(string, [:], .string(string)))
            }
        }
    }
}
