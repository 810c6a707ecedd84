/// One stanza (or part of one) in WhatsApp's binary XML: a tag, ordered attributes and optional content.
///
/// Build with the literal-friendly initialiser:
/// ```swift
/// let ping = BinaryNode("iq", ["id": "1", "to": .jid(.serverJID), "type": "get", "xmlns": "w:p"], [
///     BinaryNode("ping"),
/// ])
/// ```
/// and read with ``subscript(_:)``, ``jid(_:)``, ``child(named:)``, ``children(named:)`` and
/// ``contentBytes``. Encode and decode with ``BinaryXML``.
public struct BinaryNode: Hashable, Sendable {
    /// The element name, e.g. `iq`. Must not be empty.
    public var tag: String
    /// The attributes in wire order (kept so that re-encoding reproduces the same bytes).
    public var attributes: Attributes
    /// What the element holds.
    public var content: Content

    /// What a node holds. Decoding gives `.bytes` for BINARY_8/20/32 content and `.string` for token and
    /// packed (nibble/hex) content, as whatsmeow does; a non-token, non-packable `.string` therefore comes
    /// back as `.bytes` of its UTF-8.
    public enum Content: Hashable, Sendable, ExpressibleByArrayLiteral {
        /// No content: `<ping/>`.
        case none
        /// Child elements; an empty array is written as an empty list, which is not the same as `.none`.
        case nodes([BinaryNode])
        /// Raw bytes (keys, signatures, protobufs).
        case bytes([UInt8])
        /// Text written as a token or packed string when possible, else as raw bytes.
        case string(String)
        /// A typed address.
        case jid(JID)

        public init(arrayLiteral elements: BinaryNode...) {
            self = .nodes(elements)
        }
    }

    public init(_ tag: String, _ attributes: Attributes = [:], _ content: Content = .none) {
        self.tag = tag
        self.attributes = attributes
        self.content = content
    }

    /// The attribute `key` as text (a JID rendered with ``JID/description``); nil if absent. Setting a
    /// string stores a string value (replacing the first `key` in place or appending); setting nil
    /// removes every `key`.
    public subscript(_ key: String) -> String? {
        get { attributes[key]?.text }
        set { attributes[key] = newValue.map(AttributeValue.string) }
    }

    /// The attribute `key` as a JID, whether it was sent typed (JID_PAIR/AD_JID/...) or as a plain
    /// string (Baileys writes `from="@s.whatsapp.net"` as text); see ``AttributeValue/jid``.
    public func jid(_ key: String) -> JID? {
        attributes[key]?.jid
    }

    /// The child elements; empty unless the content is `.nodes`.
    public var children: [BinaryNode] {
        if case .nodes(let nodes) = content { nodes } else { [] }
    }

    /// The first child element with this tag.
    public func child(named tag: String) -> BinaryNode? {
        children.first { $0.tag == tag }
    }

    /// Every child element with this tag, in order.
    public func children(named tag: String) -> [BinaryNode] {
        children.filter { $0.tag == tag }
    }

    /// The content as bytes: `.bytes` as is, `.string` as its UTF-8 (peers write short values either way,
    /// e.g. a nonce as the byte `00` or the token `"0"`); nil for no content, children or a JID.
    public var contentBytes: [UInt8]? {
        switch content {
        case .bytes(let bytes): bytes
        case .string(let string): Array(string.utf8)
        case .none, .nodes, .jid: nil
        }
    }

    /// The content as text: `.string` as is, `.jid` rendered, `.bytes` if valid UTF-8; nil otherwise.
    public var contentString: String? {
        switch content {
        case .string(let string): string
        case .jid(let jid): jid.description
        case .bytes(let bytes): String(validating: bytes, as: UTF8.self)
        case .none, .nodes: nil
        }
    }
}
