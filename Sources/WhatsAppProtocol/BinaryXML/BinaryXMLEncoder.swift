/// Writes nodes as binary XML (section 3 of the linking spec). Use through ``BinaryXML/encode(_:packing:)``.
struct BinaryXMLEncoder {
    private let packing: BinaryXML.StringPacking
    private(set) var output: [UInt8]

    init(packing: BinaryXML.StringPacking, prefix: [UInt8] = [], capacity: Int = 256) {
        self.packing = packing
        output = prefix
        output.reserveCapacity(capacity)
    }

    /// Node layout: list header of `1 + 2·attributes (+1 with content)`, tag, key/value pairs, content.
    mutating func writeNode(_ node: BinaryNode, depth: Int = 1) throws(BinaryXMLError) {
        guard depth <= BinaryXML.maxDepth else { throw BinaryXMLError(.depthExceeded) }
        let hasContent: Bool
        if case .none = node.content { hasContent = false } else { hasContent = true }
        try writeListHeader(1 + 2 * node.attributes.count + (hasContent ? 1 : 0))
        try writeString(node.tag)
        for attribute in node.attributes {
            try writeString(attribute.key)
            switch attribute.value {
            case .string(let string): try writeString(string)
            case .jid(let jid): try writeJID(jid)
            }
        }
        switch node.content {
        case .none:
            break
        case .nodes(let children):
            try writeListHeader(children.count)
            for child in children { try writeNode(child, depth: depth + 1) }
        case .bytes(let bytes):
            try writeBinary(bytes)
        case .string(let string):
            try writeString(string)
        case .jid(let jid):
            try writeJID(jid)
        }
    }

    private mutating func writeListHeader(_ size: Int) throws(BinaryXMLError) {
        switch size {
        case 0:
            output.append(BinaryXMLTag.listEmpty)
        case 1..<256:
            output.append(BinaryXMLTag.list8)
            output.append(UInt8(size))
        case 256...0xFFFF:
            output.append(BinaryXMLTag.list16)
            appendUInt16(UInt16(size))
        default:
            throw BinaryXMLError(.tooLarge)
        }
    }

    /// Preference: token, then (with `.packed`) nibble, then hex, then raw UTF-8.
    private mutating func writeString(_ string: String) throws(BinaryXMLError) {
        if let token = BinaryXMLTokens.token(for: string) {
            switch token {
            case .single(let index):
                output.append(index)
            case .double(let dictionary, let index):
                output.append(BinaryXMLTag.dictionary0 + dictionary)
                output.append(index)
            }
            return
        }
        let utf8 = string.utf8
        if packing == .packed, utf8.count > 0, utf8.count <= BinaryXMLTag.packedMax {
            if utf8.allSatisfy(Self.isNibbleCharacter) {
                writePacked(utf8, tag: BinaryXMLTag.nibble8, digit: Self.nibbleDigit)
                return
            }
            if utf8.allSatisfy(Self.isHexCharacter) {
                writePacked(utf8, tag: BinaryXMLTag.hex8, digit: Self.hexDigit)
                return
            }
        }
        try writeLength(utf8.count)
        output.append(contentsOf: utf8)
    }

    private mutating func writeBinary(_ bytes: [UInt8]) throws(BinaryXMLError) {
        try writeLength(bytes.count)
        output.append(contentsOf: bytes)
    }

    /// BINARY_8 below 256, BINARY_20 below 2^20, BINARY_32 below 2^32.
    private mutating func writeLength(_ length: Int) throws(BinaryXMLError) {
        switch length {
        case 0..<256:
            output.append(BinaryXMLTag.binary8)
            output.append(UInt8(length))
        case 256..<(1 << 20):
            output.append(BinaryXMLTag.binary20)
            output.append(UInt8(length >> 16))
            output.append(UInt8(truncatingIfNeeded: length >> 8))
            output.append(UInt8(truncatingIfNeeded: length))
        case (1 << 20)...Int(UInt32.max):
            output.append(BinaryXMLTag.binary32)
            appendUInt16(UInt16(truncatingIfNeeded: length >> 16))
            appendUInt16(UInt16(truncatingIfNeeded: length))
        default:
            throw BinaryXMLError(.tooLarge)
        }
    }

    /// Length byte `ceil(n/2)` with bit 7 set for odd `n`, then digit pairs high nibble first, padded with 15.
    private mutating func writePacked(_ utf8: String.UTF8View, tag: UInt8, digit: (UInt8) -> UInt8) {
        let count = utf8.count
        output.append(tag)
        output.append(UInt8((count + 1) / 2) | (count % 2 == 1 ? 0x80 : 0))
        var high: UInt8?
        for character in utf8 {
            if let pending = high {
                output.append(pending << 4 | digit(character))
                high = nil
            } else {
                high = digit(character)
            }
        }
        if let pending = high { output.append(pending << 4 | 0x0F) }
    }

    /// See ``JID`` for which wire form each JID gets.
    private mutating func writeJID(_ jid: JID) throws(BinaryXMLError) {
        guard !jid.server.isEmpty else { throw BinaryXMLError(.invalidJID) }
        switch jid.server {
        case JID.Server.messenger:
            output.append(BinaryXMLTag.fbJID)
            try writeString(jid.user)
            appendUInt16(jid.device)
            try writeString(jid.server)
        case JID.Server.interop:
            output.append(BinaryXMLTag.interopJID)
            try writeString(jid.user)
            appendUInt16(jid.device)
            appendUInt16(jid.integrator)
            try writeString(jid.server)
        default:
            if let domain = try Self.adDomain(of: jid) {
                guard jid.device <= UInt8.max else { throw BinaryXMLError(.invalidJID) }
                output.append(BinaryXMLTag.adJID)
                output.append(domain)
                output.append(UInt8(jid.device))
                try writeString(jid.user)
            } else {
                output.append(BinaryXMLTag.jidPair)
                if jid.user.isEmpty {
                    output.append(BinaryXMLTag.listEmpty)
                } else {
                    try writeString(jid.user)
                }
                try writeString(jid.server)
            }
        }
    }

    /// The AD_JID domain byte, or nil when the JID is written as a JID_PAIR.
    private static func adDomain(of jid: JID) throws(BinaryXMLError) -> UInt8? {
        switch jid.server {
        case JID.Server.hosted: return 128
        case JID.Server.hostedLID: return 129
        case JID.Server.lid: return jid.device > 0 ? 1 : nil
        case JID.Server.whatsApp:
            guard jid.device > 0 || jid.agent > 0 else { return nil }
            // These agent values would read back as another server.
            guard jid.agent != 1, jid.agent != 128, jid.agent != 129 else { throw BinaryXMLError(.invalidJID) }
            return jid.agent
        default: return nil
        }
    }

    private mutating func appendUInt16(_ value: UInt16) {
        output.append(UInt8(value >> 8))
        output.append(UInt8(truncatingIfNeeded: value))
    }

    private static func isNibbleCharacter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }

    private static func isHexCharacter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    private static func nibbleDigit(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "-"): 10
        case UInt8(ascii: "."): 11
        default: c - UInt8(ascii: "0")
        }
    }

    private static func hexDigit(_ c: UInt8) -> UInt8 {
        c >= UInt8(ascii: "A") ? c - UInt8(ascii: "A") + 10 : c - UInt8(ascii: "0")
    }
}
