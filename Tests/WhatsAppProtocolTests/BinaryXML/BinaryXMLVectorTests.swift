import Testing

@testable import WhatsAppProtocol

/// The codec against bytes written by independent implementations (Baileys, whatsmeow, a test server).
@Suite struct BinaryXMLVectorTests {
    static let cases: [OrderedJSON] = (try? OrderedJSON.file("wabinary.json").array) ?? []

    @Test func vectorFileIsThere() {
        #expect(Self.cases.count == 11)
    }

    @Test(arguments: cases)
    func encodesExactlyAndDecodesBack(_ vector: OrderedJSON) throws {
        let name = vector["name"]?.string ?? "?"
        let expected = try unhex(try #require(vector["encoded_hex"]?.string))
        let node = try VectorNodes.node(from: try #require(vector["node"]))

        #expect(hex(try BinaryXML.encodeFrame(node)) == hex(expected), "\(name)")
        #expect(try BinaryXML.encode(node) == Array(expected.dropFirst()), "\(name)")

        let decoded = try BinaryXML.decodeFrame(expected)
        #expect(decoded == node, "\(name)")
        #expect(VectorNodes.json(of: decoded) == vector["node"], "\(name)")
    }

    /// Baileys writes the server-only JID as the raw string `@s.whatsapp.net`; it must still read as the
    /// server JID where a JID is expected.
    @Test func serverJIDWrittenAsStringIsAccepted() throws {
        let vector = try #require(Self.cases.first { $0["name"]?.string == "server_only_jid" })
        let typed = try BinaryXML.decodeFrame(try unhex(try #require(vector["encoded_hex"]?.string)))
        let untyped = try BinaryXML.decodeFrame(try unhex(try #require(vector["baileys_hex"]?.string)))

        #expect(typed.attributes["from"] == .jid(.serverJID))
        #expect(untyped.attributes["from"] == .string("@s.whatsapp.net"))
        #expect(typed.jid("from") == .serverJID)
        #expect(untyped.jid("from") == .serverJID)
        #expect(typed["from"] == untyped["from"])
        #expect(VectorNodes.json(of: untyped) == vector["node"])
    }

    @Test func transcriptsArePresent() throws {
        let frames = try VectorNodes.transcriptFrames()
        #expect(frames.count == 26)  // 30 lines, 4 of them client payloads
        #expect(frames.contains { $0.direction == "client->server" })
        #expect(frames.contains { $0.direction == "server->client" })
    }

    /// Every node whatsmeow and the test server exchanged decodes to the JSON rendering, re-encodes to the
    /// same bytes, and carries exactly the `@`-values as typed JIDs. whatsmeow packs numeric strings
    /// (nibble/hex); the test server writes every non-token string raw, so its frames re-encode with `.raw`.
    @Test func transcriptFramesDecodeAndReencodeExactly() throws {
        for frame in try VectorNodes.transcriptFrames() {
            let label = "\(frame.file) \(frame.direction) \(frame.node["tag"]?.string ?? "")"
            let node = try BinaryXML.decodeFrame(frame.raw)
            #expect(VectorNodes.json(of: node) == frame.node, "\(label)")
            #expect(node == (try VectorNodes.node(from: frame.node)), "\(label)")

            for value in VectorNodes.allAttributeValues(node) {
                if case .jid = value {
                    #expect(value.text.contains("@"), "\(label)")
                } else {
                    #expect(!value.text.contains("@"), "\(label)")
                }
            }

            let packing: BinaryXML.StringPacking = frame.direction == "client->server" ? .packed : .raw
            #expect(hex(try BinaryXML.encodeFrame(node, packing: packing)) == hex(frame.raw), "\(label)")
            // Either packing reads back as the same node.
            let other: BinaryXML.StringPacking = packing == .packed ? .raw : .packed
            #expect(try BinaryXML.decodeFrame(try BinaryXML.encodeFrame(node, packing: other)) == node, "\(label)")
        }
    }

    /// The pair-success stanza read through the accessors the pairing code will use.
    @Test func pairSuccessReadsThroughAccessors() throws {
        let frame = try #require(
            try VectorNodes.transcriptFrames().first {
                $0.file == "qr-conn1.jsonl" && $0.node["content"]?.array?.first?["tag"]?.string == "pair-success"
            })
        let iq = try BinaryXML.decodeFrame(frame.raw)
        #expect(iq.jid("from") == .serverJID)
        #expect(iq["id"] == "ps-1")
        let pairSuccess = try #require(iq.child(named: "pair-success"))
        let identity = try #require(pairSuccess.child(named: "device-identity")?.contentBytes)
        #expect(identity.count == 0x98)
        let device = try #require(pairSuccess.child(named: "device"))
        #expect(device.jid("jid") == JID(user: "15550001111", device: 5, server: JID.Server.whatsApp))
        #expect(device.jid("lid") == JID(user: "99887766", device: 5, server: JID.Server.lid))
        #expect(pairSuccess.child(named: "platform")?["name"] == "android")
        #expect(pairSuccess.child(named: "biz")?["name"] == "")
        #expect(pairSuccess.children(named: "device").count == 1)
        #expect(pairSuccess.child(named: "missing") == nil)
    }
}

extension OrderedJSON: CustomTestStringConvertible {
    var testDescription: String { self["name"]?.string ?? "json" }
}
