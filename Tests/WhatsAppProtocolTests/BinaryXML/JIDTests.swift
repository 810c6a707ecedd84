import TestRandom
import Testing

@testable import WhatsAppProtocol

@Suite struct JIDTests {
    @Test(arguments: [
        ("15551234567:3@s.whatsapp.net", JID(user: "15551234567", device: 3, server: "s.whatsapp.net")),
        ("15551234567@s.whatsapp.net", JID(user: "15551234567", server: "s.whatsapp.net")),
        ("123@lid", JID(user: "123", server: "lid")),
        ("99887766:5@lid", JID(user: "99887766", device: 5, server: "lid")),
        ("120363000000000000@g.us", JID(user: "120363000000000000", server: "g.us")),
        ("@s.whatsapp.net", JID(server: "s.whatsapp.net")),
        ("12.7:3@s.whatsapp.net", JID(user: "12", agent: 7, device: 3, server: "s.whatsapp.net")),
        ("5-123:2@interop", JID(user: "123", device: 2, integrator: 5, server: "interop")),
        ("42:513@msgr", JID(user: "42", device: 513, server: "msgr")),
    ])
    func parsesAndRenders(text: String, jid: JID) {
        #expect(JID(text) == jid)
        #expect(jid.description == text)
    }

    @Test func bareServerParsesAsServerJID() {
        #expect(JID("s.whatsapp.net") == .serverJID)
        #expect(JID("@s.whatsapp.net") == .serverJID)
        #expect(JID.serverJID.description == "@s.whatsapp.net")
        #expect(JID.serverJID.user.isEmpty && JID.serverJID.server == JID.Server.whatsApp)
    }

    @Test(arguments: [
        "", "@", "user@", "a@b@c", "1:x@s.whatsapp.net", "1:70000@s.whatsapp.net", "1.300:1@s.whatsapp.net",
        "1:+2@s.whatsapp.net", "1: 2@s.whatsapp.net", "1:2:3@s.whatsapp.net", "1.2.3@s.whatsapp.net", "x-1@interop",
    ])
    func rejectsMalformed(text: String) {
        #expect(JID(text) == nil)
    }

    @Test func withoutDeviceDropsDeviceAndAgent() {
        let jid = JID(user: "12", agent: 7, device: 3, server: JID.Server.whatsApp)
        #expect(jid.withoutDevice == JID(user: "12", server: JID.Server.whatsApp))
        #expect(jid.withoutDevice.description == "12@s.whatsapp.net")
    }

    /// Rendering and parsing are inverse for JIDs whose user has no separator characters.
    @Test func randomJIDsRoundTripThroughText() {
        var random = BinaryFuzzRandom(seed: 0x4A1D)
        let servers = ["s.whatsapp.net", "lid", "g.us", "msgr", "interop", "broadcast", "hosted", "example"]
        for _ in 0..<2000 {
            let server = servers.randomElement(using: &random)!
            let user = String(
                (0..<Int.random(in: 0...15, using: &random)).map { _ in
                    "0123456789abcxyz".randomElement(using: &random)!
                })
            let jid = JID(
                user: user,
                agent: Bool.random(using: &random) ? 0 : UInt8.random(in: 0...255, using: &random),
                device: Bool.random(using: &random) ? 0 : UInt16.random(in: 0...UInt16.max, using: &random),
                integrator: server == "interop" ? UInt16.random(in: 0...UInt16.max, using: &random) : 0,
                server: server
            )
            #expect(JID(jid.description) == jid, "\(jid)")
        }
    }
}
