import Testing

@testable import WhatsAppProtocol

/// Both handshake roles against `noise.json`, byte for byte.
@Suite struct NoiseVectorTests {
    @Test func prologueIsTheIntroMagic() throws {
        let vector = try NoiseVector.load()
        #expect(IntroHeader.magic == vector.prologue)
        #expect(IntroHeader.standard.bytes == vector.prologue)
    }

    @Test func clientMatchesVector() throws {
        let vector = try NoiseVector.load()
        var client = NoiseHandshake(staticKey: vector.clientStatic, ephemeralKey: vector.clientEphemeral)

        #expect(try client.makeClientHello() == vector.message1)

        let server = try client.readServerHello(vector.message2)
        #expect(server.staticKey == vector.serverStatic.publicKey)
        #expect(server.payload == vector.serverPayload)

        let finish = try client.makeClientFinish(payload: vector.clientPayload)
        #expect(finish == vector.message3)

        var transport = try client.split()
        #expect(try transport.encrypt(vector.clientToServerPlain) == vector.clientToServerFrame)
        #expect(try transport.decrypt(vector.serverToClientFrame) == vector.serverToClientPlain)
    }

    @Test func serverMatchesVector() throws {
        let vector = try NoiseVector.load()
        var server = NoiseServerHandshake(staticKey: vector.serverStatic, ephemeralKey: vector.serverEphemeral)

        try server.readClientHello(ephemeral: vector.message1)
        #expect(try server.makeServerHello(payload: vector.serverPayload) == vector.message2)

        let client = try server.readClientFinish(vector.message3)
        #expect(client.staticKey == vector.clientStatic.publicKey)
        #expect(client.payload == vector.clientPayload)

        var transport = try server.split()
        #expect(try transport.encrypt(vector.serverToClientPlain) == vector.serverToClientFrame)
        #expect(try transport.decrypt(vector.clientToServerFrame) == vector.clientToServerPlain)
    }

    @Test func introHeaderMatchesWhatsmeowTranscripts() throws {
        for name in ["qr-conn1", "qr-conn2", "code-conn1", "code-conn2"] {
            let lines = try Vectors.jsonLines("whatsmeow-transcripts/\(name).jsonl")
            let intros = lines.compactMap { $0["intro_header_hex"] as? String }
            #expect(!intros.isEmpty, "\(name) has no intro header")
            for intro in intros {
                #expect(try unhex(intro) == IntroHeader.standard.bytes)
            }
        }
    }
}
