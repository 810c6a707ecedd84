import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppSimulator

@Suite struct ServerTransportTests {
    /// The companion's ClientHello (with intro header) gets a ServerHello whose chain verifies under the
    /// simulator's root and names the server static; ClientFinish yields the client's static key and its
    /// exact payload; then stanzas flow both ways.
    @Test func handshakeAndStanzas() throws {
        let companion = CompanionLogic()
        var loopback = Loopback(companion: companion)
        let payload = companion.registrationPayload
        let hello = try loopback.codec.clientHello()
        #expect(Array(hello.prefix(4)) == IntroHeader.magic)
        let events = try loopback.server.receive(hello)
        guard case .send(let serverHello) = try #require(events.first) else {
            Issue.record("no ServerHello")
            return
        }
        #expect(!loopback.server.isOpen)
        let frames = try loopback.codec.frames(serverHello)
        #expect(frames.count == 1)
        let finish = try loopback.codec.clientFinish(serverHello: frames[0], payload: payload)
        let finished = try loopback.server.receive(finish)
        #expect(finished == [.handshakeComplete(NoisePeer(staticKey: companion.credentials.noiseKey.publicKey, payload: payload))])
        #expect(loopback.server.isOpen)

        let ping = BinaryNode("iq", ["id": "1", "to": .jid(.serverJID), "type": "get", "xmlns": "w:p"])
        #expect(try loopback.server.receive(try loopback.codec.seal(ping)) == [.node(ping)])
        let answer = ServerStanzas.result(id: "1")
        #expect(try loopback.codec.open(try loopback.server.seal(answer)) == [answer])
    }

    /// Frames may arrive cut anywhere: byte by byte works the same.
    @Test func byteByByte() throws {
        var loopback = Loopback()
        var events: [ServerTransport.Event] = []
        for byte in try loopback.codec.clientHello() {
            events += try loopback.server.receive([byte])
        }
        #expect(events.count == 1)
    }

    /// A companion trusting another root refuses the ServerHello (the wrong-root fault).
    @Test func wrongRootIsRefused() throws {
        var loopback = Loopback(chain: Loopback.wrongChain)
        let events = try loopback.server.receive(try loopback.codec.clientHello())
        guard case .send(let serverHello) = try #require(events.first) else {
            Issue.record("no ServerHello")
            return
        }
        #expect(throws: CompanionCodec.Failure.certificate(CertificateError(.intermediateSignatureInvalid))) {
            try loopback.codec.clientFinish(
                serverHello: try loopback.codec.frames(serverHello)[0], payload: loopback.companion.registrationPayload)
        }
    }

    /// A stream not starting with `WA 06 03` is a protocol violation, and the transport stays failed.
    @Test func badIntroHeader() throws {
        var loopback = Loopback()
        var hello = try loopback.codec.clientHello()
        hello[3] = 0x02
        #expect(throws: SimulatorError.self) { try loopback.server.receive(hello) }
        #expect(throws: SimulatorError.self) { try loopback.server.receive([0]) }
    }

    /// A first frame that is not a ClientHello fails the handshake; sending before it is refused.
    @Test func garbageHandshake() throws {
        var server = ServerTransport(
            staticKey: Loopback.serverStatic, ephemeralKey: .generate(), certificateChain: Loopback.chain,
            maximumFrameLength: 1 << 16)
        #expect(throws: SimulatorError.self) { try server.seal(BinaryNode("iq")) }
        var writer = FrameWriter()
        let error = #expect(throws: SimulatorError.self) { try server.receive(try writer.frame([0x0A, 0x01, 0xFF])) }
        #expect(error?.code == .handshakeFailed)
    }

    /// A tampered transport frame ends the connection.
    @Test func tamperedFrame() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        var bytes = try loopback.codec.seal(BinaryNode("iq", ["id": "x", "type": "get", "xmlns": "w:p"]))
        bytes[bytes.count - 1] ^= 1
        let error = #expect(throws: SimulatorError.self) { try loopback.server.receive(bytes) }
        #expect(error?.code == .protocolViolation)
    }

    /// The ClientPayload is read as registration (with a verified signed prekey) or login.
    @Test func payloadSummary() throws {
        let credentials = DeviceCredentials.generate()
        let registration = try ClientPayloadSummary.parse(
            ClientPayloadBuilder.registration(credentials: credentials), noiseKey: credentials.noiseKey.publicKey)
        guard case .registration(let companion) = registration else {
            Issue.record("not registration")
            return
        }
        #expect(companion.identityKey == credentials.identityKey.publicKey)
        #expect(companion.registrationID == credentials.registrationID)
        #expect(companion.signedPreKey == credentials.signedPreKey.keyPair.publicKey)
        #expect(companion.osName == "Linux")

        let login = try ClientPayloadSummary.parse(
            ClientPayloadBuilder.login(username: 15_550_001_111, device: 7), noiseKey: credentials.noiseKey.publicKey)
        #expect(login == .login(username: "15550001111", device: 7))

        var forged = credentials
        forged.signedPreKey = SignedPreKey(
            id: 1, keyPair: credentials.signedPreKey.keyPair,
            signature: credentials.signedPreKey.signature.map { $0 ^ 1 })
        let error = #expect(throws: SimulatorError.self) {
            try ClientPayloadSummary.parse(
                ClientPayloadBuilder.registration(credentials: forged), noiseKey: credentials.noiseKey.publicKey)
        }
        #expect(error?.detail == "signed prekey signature")
        #expect(throws: SimulatorError.self) { try ClientPayloadSummary.parse([0xFF, 0xFF], noiseKey: []) }
    }
}
