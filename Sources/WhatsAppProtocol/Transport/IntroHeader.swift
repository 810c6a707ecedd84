/// The bytes a client sends once, in front of its first frame, before any framing (spec 1.2).
///
/// Either the 4-byte magic `57 41 06 03` ("WA", magic value 6, binary-XML dictionary version 3), or
/// `45 44 00 01` ("ED", 0, 1), a 3-byte big-endian routing-info length, the routing info, then the magic.
/// The Noise prologue is always the 4-byte magic, with or without routing info.
public struct IntroHeader: Sendable, Hashable {
    /// `57 41 06 03`; also the Noise prologue.
    public static let magic: [UInt8] = [0x57, 0x41, 0x06, 0x03]
    /// The start of the routing-info form: `"ED"`, 0, 1.
    static let routingPrefix: [UInt8] = [0x45, 0x44, 0x00, 0x01]
    /// The plain 4-byte header that whatsmeow always sends.
    public static let standard = IntroHeader()

    /// Routing info saved from an earlier `<edge_routing>` node, or nil for the plain header.
    public let routingInfo: [UInt8]?

    /// The plain header.
    public init() { routingInfo = nil }

    /// The routing-info form; its length must fit in 3 bytes.
    public init(routingInfo: [UInt8]) throws(FrameError) {
        guard routingInfo.count <= FrameFormat.maximumLength else {
            throw FrameError(.routingInfoTooLarge, length: routingInfo.count)
        }
        self.routingInfo = routingInfo
    }

    /// The header as sent on the wire.
    public var bytes: [UInt8] {
        guard let routingInfo else { return Self.magic }
        return Self.routingPrefix + FrameFormat.lengthPrefix(routingInfo.count) + routingInfo + Self.magic
    }
}
