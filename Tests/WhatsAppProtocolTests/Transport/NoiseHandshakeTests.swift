import TestRandom
import Testing

@testable import WhatsAppProtocol

/// A client and a server state machine with keys from a seeded generator, stepped in memory.
struct HandshakePair {
    var client: NoiseHandshake
    var server: NoiseServerHandshake
    let clientStatic: KeyPair
    let serverStatic: KeyPair

    init(random: inout TransportFuzzRandom) throws {
        clientStatic = try KeyPair(privateKey: random.bytes(32))
        serverStatic = try KeyPair(privateKey: random.bytes(32))
        client = NoiseHandshake(staticKey: clientStatic, ephemeralKey: try KeyPair(privateKey: random.bytes(32)))
        server = NoiseServerHandshake(staticKey: serverStatic, ephemeralKey: try KeyPair(privateKey: random.bytes(32)))
    }
}

/// Flips one byte of a ServerHello seen as `ephemeral | encryptedStatic | encryptedPayload`.
func tampered(_ hello: NoiseServerHello, at index: Int, xor mask: UInt8) -> NoiseServerHello {
    var bytes = hello.ephemeral + hello.encryptedStatic + hello.encryptedPayload
    bytes[index] ^= mask
    let staticEnd = hello.ephemeral.count + hello.encryptedStatic.count
    return NoiseServerHello(
        ephemeral: Array(bytes[..<hello.ephemeral.count]),
        encryptedStatic: Array(bytes[hello.ephemeral.count..<staticEnd]),
        encryptedPayload: Array(bytes[staticEnd...])
    )
}

/// Flips one byte of a ClientFinish seen as `encryptedStatic | encryptedPayload`.
func tampered(_ finish: NoiseClientFinish, at index: Int, xor mask: UInt8) -> NoiseClientFinish {
    var bytes = finish.encryptedStatic + finish.encryptedPayload
    bytes[index] ^= mask
    return NoiseClientFinish(
        encryptedStatic: Array(bytes[..<finish.encryptedStatic.count]),
        encryptedPayload: Array(bytes[finish.encryptedStatic.count...])
    )
}

@Suite struct NoiseHandshakeTests {
    @Test func clientAndServerCompleteAHandshakeAndTalk() throws {
        var random = TransportFuzzRandom(seed: 0xA11CE)
        for _ in 0..<20 {
            var pair = try HandshakePair(random: &random)
            let certChain = random.bytes(Int.random(in: 0...200, using: &random))
            let clientPayload = random.bytes(Int.random(in: 0...200, using: &random))

            try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
            let hello = try pair.server.makeServerHello(payload: certChain)
            #expect(hello.ephemeral.count == 32)
            #expect(hello.encryptedStatic.count == 48)
            #expect(hello.encryptedPayload.count == certChain.count + 16)
            let seenByClient = try pair.client.readServerHello(hello)
            #expect(seenByClient == NoisePeer(staticKey: pair.serverStatic.publicKey, payload: certChain))
            let finish = try pair.client.makeClientFinish(payload: clientPayload)
            #expect(finish.encryptedStatic.count == 48)
            let seenByServer = try pair.server.readClientFinish(finish)
            #expect(seenByServer == NoisePeer(staticKey: pair.clientStatic.publicKey, payload: clientPayload))

            var clientTransport = try pair.client.split()
            var serverTransport = try pair.server.split()
            for counter in 0..<5 {
                let up = random.bytes(Int.random(in: 0...100, using: &random))
                let upFrame = try clientTransport.encrypt(up)
                #expect(upFrame.count == up.count + 16)
                #expect(try serverTransport.decrypt(upFrame) == up)
                let down = random.bytes(Int.random(in: 0...100, using: &random))
                #expect(try clientTransport.decrypt(serverTransport.encrypt(down)) == down)
                #expect(clientTransport.writeCounter == UInt64(counter + 1))
                #expect(serverTransport.readCounter == UInt64(counter + 1))
            }
        }
    }

    @Test func tamperingMessage1MakesTheClientFailOnServerHello() throws {
        var random = TransportFuzzRandom(seed: 0xB0B1)
        for index in 0..<32 {
            var pair = try HandshakePair(random: &random)
            var ephemeral = try pair.client.makeClientHello()
            ephemeral[index] ^= UInt8.random(in: 1...255, using: &random)
            try pair.server.readClientHello(ephemeral: ephemeral)
            let hello = try pair.server.makeServerHello(payload: random.bytes(20))
            #expect(throws: NoiseError(.decryptionFailed)) { try pair.client.readServerHello(hello) }
        }
    }

    @Test func tamperingAnyServerHelloByteMakesTheClientFail() throws {
        var random = TransportFuzzRandom(seed: 0xB0B2)
        var pair = try HandshakePair(random: &random)
        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        let hello = try pair.server.makeServerHello(payload: random.bytes(20))
        let length = hello.ephemeral.count + hello.encryptedStatic.count + hello.encryptedPayload.count
        for index in 0..<length {
            var client = pair.client  // a copy still waiting for ServerHello
            let bad = tampered(hello, at: index, xor: UInt8.random(in: 1...255, using: &random))
            #expect(throws: NoiseError(.decryptionFailed)) { try client.readServerHello(bad) }
            #expect(throws: NoiseError(.alreadyFailed)) { try client.makeClientFinish(payload: []) }
        }
        #expect(try pair.client.readServerHello(hello).payload.count == 20)
    }

    @Test func tamperingAnyClientFinishByteMakesTheServerFail() throws {
        var random = TransportFuzzRandom(seed: 0xB0B3)
        var pair = try HandshakePair(random: &random)
        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        _ = try pair.client.readServerHello(pair.server.makeServerHello(payload: random.bytes(20)))
        let finish = try pair.client.makeClientFinish(payload: random.bytes(30))
        for index in 0..<(finish.encryptedStatic.count + finish.encryptedPayload.count) {
            var server = pair.server  // a copy still waiting for ClientFinish
            let bad = tampered(finish, at: index, xor: UInt8.random(in: 1...255, using: &random))
            #expect(throws: NoiseError(.decryptionFailed)) { try server.readClientFinish(bad) }
            #expect(throws: NoiseError(.alreadyFailed)) { try server.split() }
        }
        #expect(try pair.server.readClientFinish(finish).payload.count == 30)
    }

    @Test(arguments: [0, 31, 33])
    func wrongLengthEphemeralIsRejected(length: Int) throws {
        var random = TransportFuzzRandom(seed: 0xC0C0)
        var pair = try HandshakePair(random: &random)
        #expect(throws: NoiseError(.invalidLength)) { try pair.server.readClientHello(ephemeral: random.bytes(length)) }
        #expect(throws: NoiseError(.alreadyFailed)) { try pair.server.makeServerHello(payload: []) }

        _ = try pair.client.makeClientHello()
        let hello = NoiseServerHello(ephemeral: random.bytes(length), encryptedStatic: random.bytes(48), encryptedPayload: random.bytes(16))
        #expect(throws: NoiseError(.invalidLength)) { try pair.client.readServerHello(hello) }
    }

    @Test(arguments: [0, 32, 47, 49])
    func wrongLengthEncryptedStaticIsRejected(length: Int) throws {
        var random = TransportFuzzRandom(seed: 0xC0C1)
        var pair = try HandshakePair(random: &random)
        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        var hello = try pair.server.makeServerHello(payload: [1, 2, 3])
        var finishingServer = pair.server
        hello.encryptedStatic = Array((hello.encryptedStatic + random.bytes(10)).prefix(length))
        #expect(throws: NoiseError(.invalidLength)) { try pair.client.readServerHello(hello) }

        let finish = NoiseClientFinish(encryptedStatic: random.bytes(length), encryptedPayload: random.bytes(16))
        #expect(throws: NoiseError(.invalidLength)) { try finishingServer.readClientFinish(finish) }
    }

    @Test(arguments: [0, 1, 15])
    func encryptedPayloadShorterThanATagIsRejected(length: Int) throws {
        var random = TransportFuzzRandom(seed: 0xC0C2)
        var pair = try HandshakePair(random: &random)
        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        var hello = try pair.server.makeServerHello(payload: [])
        var client = pair.client
        _ = try client.readServerHello(hello)
        let finish = try client.makeClientFinish(payload: [])

        hello.encryptedPayload = Array(hello.encryptedPayload.prefix(length))
        #expect(throws: NoiseError(.invalidLength)) { try pair.client.readServerHello(hello) }
        let short = NoiseClientFinish(encryptedStatic: finish.encryptedStatic, encryptedPayload: Array(finish.encryptedPayload.prefix(length)))
        #expect(throws: NoiseError(.invalidLength)) { try pair.server.readClientFinish(short) }
    }

    @Test func lowOrderEphemeralIsRejected() throws {
        var random = TransportFuzzRandom(seed: 0xC0C3)
        var pair = try HandshakePair(random: &random)
        _ = try pair.client.makeClientHello()
        let zero = [UInt8](repeating: 0, count: 32)
        let hello = NoiseServerHello(ephemeral: zero, encryptedStatic: random.bytes(48), encryptedPayload: random.bytes(16))
        #expect(throws: NoiseError(.invalidKey)) { try pair.client.readServerHello(hello) }

        try pair.server.readClientHello(ephemeral: zero)
        #expect(throws: NoiseError(.invalidKey)) { try pair.server.makeServerHello(payload: []) }
    }

    @Test func stepsOutOfOrderAreRefusedWithoutHarm() throws {
        var random = TransportFuzzRandom(seed: 0xC0C4)
        var pair = try HandshakePair(random: &random)
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.client.makeClientFinish(payload: []) }
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.client.split() }
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.server.makeServerHello(payload: []) }
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.server.split() }

        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.client.makeClientHello() }
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.server.readClientHello(ephemeral: random.bytes(32)) }
        _ = try pair.client.readServerHello(pair.server.makeServerHello(payload: []))
        _ = try pair.server.readClientFinish(pair.client.makeClientFinish(payload: []))
        var clientTransport = try pair.client.split()
        var serverTransport = try pair.server.split()
        // Only one transport per handshake, so no two share a nonce sequence.
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.client.split() }
        #expect(throws: NoiseError(.unexpectedStep)) { try pair.server.split() }
        #expect(try serverTransport.decrypt(clientTransport.encrypt([1])) == [1])
    }
}
