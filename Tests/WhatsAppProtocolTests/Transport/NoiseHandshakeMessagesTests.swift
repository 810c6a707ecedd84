import Testing
import WhatsAppProtocol

/// `HandshakeMessage` encoding against whatsmeow's transcripts and the Noise vector, and hostile input.
@Suite struct NoiseHandshakeMessagesTests {
    @Test(arguments: TranscriptPayload.names)
    func clientMessagesMatchWhatsmeowBytes(name: String) throws {
        let transcript = try TranscriptPayload.load(name)

        let ephemeral = try NoiseHandshakeMessages.decodeClientHello(transcript.clientHello)
        #expect(ephemeral.count == 32)
        #expect(NoiseHandshakeMessages.encodeClientHello(ephemeral: ephemeral) == transcript.clientHello)

        let finish = try NoiseHandshakeMessages.decodeClientFinish(transcript.clientFinish)
        #expect(finish.encryptedStatic.count == 48)
        #expect(finish.encryptedPayload.count == transcript.raw.count + 16)
        #expect(NoiseHandshakeMessages.encodeClientFinish(finish) == transcript.clientFinish)
    }

    @Test func serverHelloRoundTripsAndDrivesTheClient() throws {
        let vector = try NoiseVector.load()
        let bytes = NoiseHandshakeMessages.encodeServerHello(vector.message2)
        let decoded = try NoiseHandshakeMessages.decodeServerHello(bytes)
        #expect(decoded == vector.message2)

        var client = NoiseHandshake(staticKey: vector.clientStatic, ephemeralKey: vector.clientEphemeral)
        _ = try client.makeClientHello()
        #expect(try client.readServerHello(decoded).payload == vector.serverPayload)
    }

    @Test func wrongMessageKindIsRefused() throws {
        let transcript = try TranscriptPayload.load("qr-conn1")
        #expect(throws: NoiseError(.malformedMessage)) {
            try NoiseHandshakeMessages.decodeServerHello(transcript.clientHello)
        }
        #expect(throws: NoiseError(.malformedMessage)) {
            try NoiseHandshakeMessages.decodeClientFinish(transcript.clientHello)
        }
        #expect(throws: NoiseError(.malformedMessage)) {
            try NoiseHandshakeMessages.decodeClientHello(transcript.clientFinish)
        }
    }

    @Test func shortFieldsAndGarbageAreRefused() {
        let shortEphemeral = NoiseServerHello(
            ephemeral: [UInt8](repeating: 1, count: 31), encryptedStatic: [UInt8](repeating: 2, count: 48),
            encryptedPayload: [3])
        #expect(throws: NoiseError(.malformedMessage)) {
            try NoiseHandshakeMessages.decodeServerHello(NoiseHandshakeMessages.encodeServerHello(shortEphemeral))
        }
        #expect(throws: NoiseError(.malformedMessage)) {
            try NoiseHandshakeMessages.decodeClientHello(NoiseHandshakeMessages.encodeClientHello(ephemeral: [1, 2]))
        }
        for garbage: [UInt8] in [[], [0xFF], [0x12, 0x7F, 0x00], Array(repeating: 0xAB, count: 64)] {
            #expect(throws: NoiseError.self) { try NoiseHandshakeMessages.decodeServerHello(garbage) }
            #expect(throws: NoiseError.self) { try NoiseHandshakeMessages.decodeClientHello(garbage) }
            #expect(throws: NoiseError.self) { try NoiseHandshakeMessages.decodeClientFinish(garbage) }
        }
    }
}
