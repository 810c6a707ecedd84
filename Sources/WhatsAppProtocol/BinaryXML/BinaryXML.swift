/// WhatsApp's binary XML ("WABinary") codec and the frame payload around it.
///
/// A decrypted transport frame is one flags byte followed by an encoded node; flag `0x02` means the node
/// bytes are zlib-compressed (linking spec 1.5). Clients always send flags `0x00`.
public enum BinaryXML {
    /// How the encoder writes strings that are not tokens.
    public enum StringPacking: Sendable {
        /// NIBBLE_8 for `0-9 - .`, then HEX_8 for `0-9 A-F`, at most 127 characters, else raw UTF-8: what
        /// WhatsApp clients (whatsmeow, Baileys) write. The default.
        case packed
        /// Always raw UTF-8 (BINARY_8/20/32): what some servers write, e.g. the test server in the vectors.
        case raw
    }

    /// Deepest nesting of elements accepted (the top-level node is depth 1). Real stanzas stay below 10.
    public static let maxDepth = 64

    /// Default bound on an inflated frame payload: 16 MiB, like the largest possible frame.
    public static let defaultMaxInflatedSize = 16 << 20

    /// Encodes a node, without the flags byte. The empty string is written as raw (`BINARY_8 00`).
    ///
    /// Throws `.tooLarge` for more than 65535 list entries or byte strings of 2^32 bytes,
    /// `.invalidJID` for a JID that has no wire form (empty server, AD device above 255, agent 1/128/129),
    /// `.depthExceeded` beyond ``maxDepth``.
    public static func encode(_ node: BinaryNode, packing: StringPacking = .packed) throws(BinaryXMLError) -> [UInt8] {
        var encoder = BinaryXMLEncoder(packing: packing)
        try encoder.writeNode(node)
        return encoder.output
    }

    /// Decodes exactly one node from `bytes` (no flags byte); bytes left over are an error.
    public static func decode(_ bytes: [UInt8]) throws(BinaryXMLError) -> BinaryNode {
        try decodeNode(bytes, from: 0)
    }

    /// A frame plaintext for a node: flags `0x00` (uncompressed) followed by the encoded node.
    public static func encodeFrame(_ node: BinaryNode, packing: StringPacking = .packed) throws(BinaryXMLError) -> [UInt8] {
        var encoder = BinaryXMLEncoder(packing: packing, prefix: [0x00])
        try encoder.writeNode(node)
        return encoder.output
    }

    /// Decodes a decrypted frame plaintext: flags byte, then the node, zlib-inflated first when flag
    /// `0x02` is set (at most `maxInflatedSize` bytes, else `.decompressedTooLarge`).
    /// Error offsets count from the node bytes (after the flags byte, after inflating).
    public static func decodeFrame(
        _ plaintext: [UInt8], maxInflatedSize: Int = defaultMaxInflatedSize
    ) throws(BinaryXMLError) -> BinaryNode {
        guard let flags = plaintext.first else { throw BinaryXMLError(.emptyFrame) }
        if flags & 0x02 != 0 {
            let inflated = try BinaryXMLInflater.inflate(plaintext[1...], maxOutput: maxInflatedSize)
            return try decodeNode(inflated, from: 0)
        }
        return try decodeNode(plaintext, from: 1)
    }

    private static func decodeNode(_ bytes: [UInt8], from start: Int) throws(BinaryXMLError) -> BinaryNode {
        var decoder = BinaryXMLDecoder(bytes, from: start)
        let node = try decoder.readNode()
        guard decoder.isAtEnd else { throw BinaryXMLError(.trailingBytes, offset: decoder.offset) }
        return node
    }
}
