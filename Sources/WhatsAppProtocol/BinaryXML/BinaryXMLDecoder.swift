/// Reads binary XML from untrusted bytes. Use through ``BinaryXML/decode(_:)``.
///
/// Hostile input cannot make it crash, loop or over-allocate: every length is checked against the bytes
/// that remain before anything is allocated, list and attribute counts are bounded by the smallest
/// possible encoding of their elements, and nesting is bounded by ``BinaryXML/maxDepth``.
struct BinaryXMLDecoder {
    private let bytes: [UInt8]
    /// Where the node bytes start in `bytes` (1 after a flags byte); error offsets count from here.
    private let start: Int
    private var position: Int

    init(_ bytes: [UInt8], from start: Int = 0) {
        self.bytes = bytes
        self.start = start
        position = start
    }

    var isAtEnd: Bool { position == bytes.count }
    /// Bytes read so far.
    var offset: Int { position - start }
    private var remaining: Int { bytes.count - position }

    private func error(_ code: BinaryXMLError.Code, at offset: Int? = nil) -> BinaryXMLError {
        BinaryXMLError(code, offset: (offset ?? position) - start)
    }

    /// Up to this many list entries are reserved ahead; beyond, arrays grow with the entries actually
    /// read. A declared count only has to fit the remaining bytes, and nested lists could each declare
    /// one, so reserving it in full could claim far more memory than the input justifies.
    private static let reserveLimit = 32

    // MARK: - Nodes

    mutating func readNode(depth: Int = 1) throws(BinaryXMLError) -> BinaryNode {
        guard depth <= BinaryXML.maxDepth else { throw error(.depthExceeded) }
        let nodeStart = position
        let size = try readListSize(try readByte())
        guard size > 0 else { throw error(.invalidNode, at: nodeStart) }

        // An empty tag, whether LIST_EMPTY or a zero-length string, makes no node.
        guard try peekByte() != BinaryXMLTag.listEmpty else { throw error(.invalidNode, at: nodeStart) }
        let tag = try readString(emptyList: .invalid)
        guard !tag.isEmpty else { throw error(.invalidNode, at: nodeStart) }

        let attributeCount = (size - 1) >> 1
        // Each attribute takes at least two bytes (one-byte key, one-byte value).
        guard attributeCount * 2 <= remaining else { throw error(.truncated) }
        var attributes = BinaryNode.Attributes()
        attributes.reserveCapacity(min(attributeCount, Self.reserveLimit))
        for _ in 0..<attributeCount {
            let key = try readString(emptyList: .invalid)
            attributes.append(BinaryNode.Attribute(key: key, value: try readAttributeValue()))
        }

        let content: BinaryNode.Content = size % 2 == 0 ? try readContent(depth: depth) : .none
        return BinaryNode(tag, attributes, content)
    }

    private mutating func readContent(depth: Int) throws(BinaryXMLError) -> BinaryNode.Content {
        let tagOffset = position
        let tag = try readByte()
        switch tag {
        case BinaryXMLTag.listEmpty, BinaryXMLTag.list8, BinaryXMLTag.list16:
            let count = try readListSize(tag)
            // The smallest node is three bytes: LIST_8, its size and a one-byte tag.
            guard count * 3 <= remaining else { throw error(.truncated) }
            var children: [BinaryNode] = []
            children.reserveCapacity(min(count, Self.reserveLimit))
            for _ in 0..<count {
                children.append(try readNode(depth: depth + 1))
            }
            return .nodes(children)
        case BinaryXMLTag.binary8, BinaryXMLTag.binary20, BinaryXMLTag.binary32:
            return .bytes(Array(try readBinary(tag)))
        case BinaryXMLTag.jidPair, BinaryXMLTag.adJID, BinaryXMLTag.fbJID, BinaryXMLTag.interopJID:
            return .jid(try readJID(tag))
        default:
            return .string(try readTokenOrPacked(tag, at: tagOffset))
        }
    }

    private mutating func readAttributeValue() throws(BinaryXMLError) -> BinaryNode.AttributeValue {
        let tag = try peekByte()
        switch tag {
        case BinaryXMLTag.jidPair, BinaryXMLTag.adJID, BinaryXMLTag.fbJID, BinaryXMLTag.interopJID:
            position += 1
            return .jid(try readJID(tag))
        default:
            return .string(try readString(emptyList: .empty))
        }
    }

    private mutating func readListSize(_ tag: UInt8) throws(BinaryXMLError) -> Int {
        switch tag {
        case BinaryXMLTag.listEmpty: return 0
        case BinaryXMLTag.list8: return Int(try readByte())
        case BinaryXMLTag.list16: return Int(try readUInt16())
        default: throw error(.invalidTagByte, at: position - 1)
        }
    }

    // MARK: - Strings

    /// What LIST_EMPTY means where a string is expected.
    private enum EmptyList {
        /// Not allowed (tags, attribute keys, JID servers).
        case invalid
        /// The empty string (attribute values, JID users).
        case empty
    }

    /// A string written as a token, packed digits or raw UTF-8 (JIDs and lists are not strings).
    private mutating func readString(emptyList: EmptyList) throws(BinaryXMLError) -> String {
        let tagOffset = position
        let tag = try readByte()
        switch tag {
        case BinaryXMLTag.listEmpty where emptyList == .empty:
            return ""
        case BinaryXMLTag.binary8, BinaryXMLTag.binary20, BinaryXMLTag.binary32:
            let bytesStart = position
            guard let string = String(validating: try readBinary(tag), as: UTF8.self) else {
                throw error(.invalidUTF8, at: bytesStart)
            }
            return string
        default:
            return try readTokenOrPacked(tag, at: tagOffset)
        }
    }

    private mutating func readTokenOrPacked(_ tag: UInt8, at tagOffset: Int) throws(BinaryXMLError) -> String {
        switch tag {
        case BinaryXMLTag.dictionary0...BinaryXMLTag.dictionary3:
            let index = try readByte()
            guard let token = BinaryXMLTokens.double(dictionary: Int(tag - BinaryXMLTag.dictionary0), index: index)
            else { throw error(.invalidToken, at: tagOffset) }
            return token
        case BinaryXMLTag.nibble8, BinaryXMLTag.hex8:
            return try readPacked(hex: tag == BinaryXMLTag.hex8)
        default:
            guard let token = BinaryXMLTokens.single(tag) else { throw error(.invalidTagByte, at: tagOffset) }
            return token
        }
    }

    /// Length byte (bit 7: odd, drop the last digit), then `length & 127` bytes of two digits each.
    private mutating func readPacked(hex: Bool) throws(BinaryXMLError) -> String {
        let header = try readByte()
        let byteCount = Int(header & 0x7F)
        let odd = header & 0x80 != 0
        guard byteCount <= remaining else { throw error(.truncated) }
        guard byteCount > 0 || !odd else { throw error(.invalidPackedDigit, at: position - 1) }
        let digitCount = byteCount * 2 - (odd ? 1 : 0)
        var characters: [UInt8] = []
        characters.reserveCapacity(digitCount)
        for offset in position..<(position + byteCount) {
            try appendDigit(bytes[offset] >> 4, hex: hex, to: &characters, at: offset)
            if characters.count < digitCount {
                try appendDigit(bytes[offset] & 0x0F, hex: hex, to: &characters, at: offset)
            }
        }
        position += byteCount
        return String(decoding: characters, as: UTF8.self)
    }

    private func appendDigit(
        _ digit: UInt8, hex: Bool, to characters: inout [UInt8], at offset: Int
    )
        throws(BinaryXMLError)
    {
        guard let character = hex ? Self.hexCharacter(digit) : Self.nibbleCharacter(digit) else {
            throw error(.invalidPackedDigit, at: offset)
        }
        characters.append(character)
    }

    private static func nibbleCharacter(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 0...9: UInt8(ascii: "0") + digit
        case 10: UInt8(ascii: "-")
        case 11: UInt8(ascii: ".")
        default: nil
        }
    }

    private static func hexCharacter(_ digit: UInt8) -> UInt8? {
        digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "A") + digit - 10
    }

    /// The payload of BINARY_8/20/32, after checking its length against the remaining input.
    private mutating func readBinary(_ tag: UInt8) throws(BinaryXMLError) -> ArraySlice<UInt8> {
        let length: Int
        switch tag {
        case BinaryXMLTag.binary8:
            length = Int(try readByte())
        case BinaryXMLTag.binary20:
            let high = Int(try readByte() & 0x0F)
            length = high << 16 | Int(try readUInt16())
        default:
            length = Int(try readUInt16()) << 16 | Int(try readUInt16())
        }
        guard length <= remaining else { throw error(.truncated) }
        defer { position += length }
        return bytes[position..<(position + length)]
    }

    // MARK: - JIDs

    private mutating func readJID(_ tag: UInt8) throws(BinaryXMLError) -> JID {
        let jidStart = position - 1
        switch tag {
        case BinaryXMLTag.jidPair:
            let user = try readString(emptyList: .empty)
            return JID(user: user, server: try readServer(at: jidStart))
        case BinaryXMLTag.adJID:
            let domain = try readByte()
            let device = UInt16(try readByte())
            let user = try readString(emptyList: .empty)
            switch domain {
            case 0: return JID(user: user, device: device, server: JID.Server.whatsApp)
            case 1: return JID(user: user, device: device, server: JID.Server.lid)
            case 128: return JID(user: user, device: device, server: JID.Server.hosted)
            case 129: return JID(user: user, device: device, server: JID.Server.hostedLID)
            default: return JID(user: user, agent: domain, device: device, server: JID.Server.whatsApp)
            }
        case BinaryXMLTag.fbJID:
            let user = try readString(emptyList: .empty)
            let device = try readUInt16()
            let server = try readServer(at: jidStart)
            guard server == JID.Server.messenger else { throw error(.invalidJID, at: jidStart) }
            return JID(user: user, device: device, server: server)
        default:
            let user = try readString(emptyList: .empty)
            let device = try readUInt16()
            let integrator = try readUInt16()
            let server = try readServer(at: jidStart)
            guard server == JID.Server.interop else { throw error(.invalidJID, at: jidStart) }
            return JID(user: user, device: device, integrator: integrator, server: server)
        }
    }

    private mutating func readServer(at jidStart: Int) throws(BinaryXMLError) -> String {
        guard try peekByte() != BinaryXMLTag.listEmpty else { throw error(.invalidJID, at: jidStart) }
        let server = try readString(emptyList: .invalid)
        guard !server.isEmpty else { throw error(.invalidJID, at: jidStart) }
        return server
    }

    // MARK: - Bytes

    private func peekByte() throws(BinaryXMLError) -> UInt8 {
        guard position < bytes.count else { throw error(.truncated) }
        return bytes[position]
    }

    private mutating func readByte() throws(BinaryXMLError) -> UInt8 {
        guard position < bytes.count else { throw error(.truncated) }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func readUInt16() throws(BinaryXMLError) -> UInt16 {
        guard remaining >= 2 else { throw error(.truncated) }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }
}
