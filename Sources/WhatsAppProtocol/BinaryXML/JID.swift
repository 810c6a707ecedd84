/// A WhatsApp address ("Jabber ID"): `user[.agent][:device]@server`, e.g. `15551234567:3@s.whatsapp.net`,
/// `123@lid`, or the server itself (empty user).
///
/// On the wire a JID is typed (JID_PAIR, AD_JID, FB_JID or INTEROP_JID) rather than a plain string, and
/// peers such as whatsmeow only accept the typed form where they expect an address, so stanzas carry
/// addresses as `JID` values. Which wire form the encoder picks follows from the fields:
/// - server `msgr` → FB_JID (user, 16-bit device);
/// - server `interop` → INTEROP_JID (user, 16-bit device, 16-bit integrator);
/// - server `hosted`/`hosted.lid`, or `s.whatsapp.net`/`lid` with a device or agent → AD_JID (8-bit device);
/// - anything else → JID_PAIR (user and server only; device, agent and integrator are not written).
public struct JID: Hashable, Sendable, LosslessStringConvertible {
    /// The user part (phone number, LID, group id, ...); empty for a server JID.
    public var user: String
    /// A raw agent number (`user.agent:device@s.whatsapp.net`); 0 for ordinary JIDs. Only meaningful on
    /// `s.whatsapp.net`, where it becomes the AD_JID domain byte (so 1, 128 and 129 are not allowed).
    public var agent: UInt8
    /// The device number: 0 for the primary device (phone), > 0 for companions.
    public var device: UInt16
    /// The integrator id of an interop JID; 0 otherwise.
    public var integrator: UInt16
    /// The server part: `s.whatsapp.net`, `lid`, `g.us`, ... (see ``Server``).
    public var server: String

    public init(user: String = "", agent: UInt8 = 0, device: UInt16 = 0, integrator: UInt16 = 0, server: String) {
        self.user = user
        self.agent = agent
        self.device = device
        self.integrator = integrator
        self.server = server
    }

    /// Well-known server names.
    public enum Server {
        /// Phone-number users and the WhatsApp server itself.
        public static let whatsApp = "s.whatsapp.net"
        /// LID (hidden user id) users.
        public static let lid = "lid"
        /// Groups.
        public static let group = "g.us"
        /// Broadcast lists and status.
        public static let broadcast = "broadcast"
        /// Hosted (business platform) users.
        public static let hosted = "hosted"
        /// Hosted LID users.
        public static let hostedLID = "hosted.lid"
        /// Messenger users (FB_JID).
        public static let messenger = "msgr"
        /// Interop users (INTEROP_JID).
        public static let interop = "interop"
        /// Newsletters (channels).
        public static let newsletter = "newsletter"

        static let wellKnown: Set<String> = [
            whatsApp, lid, group, broadcast, hosted, hostedLID, messenger, interop, newsletter,
        ]
    }

    /// The WhatsApp server, `@s.whatsapp.net` (JID_PAIR with no user): the `to`/`from` of most stanzas.
    public static let serverJID = JID(server: Server.whatsApp)

    /// The same user without agent and device, e.g. `15551234567@s.whatsapp.net` for `15551234567:3@…`.
    public var withoutDevice: JID {
        JID(user: user, integrator: integrator, server: server)
    }

    /// `user.agent:device@server`, leaving out a zero agent/device, `integrator-` in front of an interop
    /// user, and `@server` for an empty user (as the vector files render the server JID). The result
    /// parses back to the same JID.
    public var description: String {
        var text = ""
        if integrator > 0 { text += "\(integrator)-" }
        text += user
        if agent > 0 {
            text += ".\(agent):\(device)"
        } else if device > 0 {
            text += ":\(device)"
        }
        return text + "@" + server
    }

    /// Parses `user@server`, `user:device@server`, `user.agent:device@server`,
    /// `integrator-user:device@interop`, `@server` and a bare `server`. Returns nil for anything else
    /// (several `@`, an empty server, non-numeric or out-of-range numbers).
    public init?(_ description: String) {
        let parts = description.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        guard let serverPart = parts.last, !serverPart.isEmpty else { return nil }
        self.init(server: String(serverPart))
        guard parts.count == 2 else { return }

        var rest = parts[0]
        if server == Server.interop, let dash = rest.firstIndex(of: "-") {
            guard let integrator = JID.number(rest[..<dash], as: UInt16.self) else { return nil }
            self.integrator = integrator
            rest = rest[rest.index(after: dash)...]
        }
        if let colon = rest.firstIndex(of: ":") {
            guard let device = JID.number(rest[rest.index(after: colon)...], as: UInt16.self) else { return nil }
            self.device = device
            rest = rest[..<colon]
        }
        if let dot = rest.firstIndex(of: ".") {
            guard let agent = JID.number(rest[rest.index(after: dot)...], as: UInt8.self) else { return nil }
            self.agent = agent
            rest = rest[..<dot]
        }
        self.user = String(rest)
    }

    /// Decimal digits only (no sign, no spaces), in range for `T`.
    private static func number<T: FixedWidthInteger>(_ text: Substring, as type: T.Type) -> T? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return T(text)
    }
}
