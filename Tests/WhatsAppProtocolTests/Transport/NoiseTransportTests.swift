import TestRandom
import Testing

@testable import WhatsAppProtocol

/// Both ends of a completed handshake with seeded keys.
func transportPair(seed: UInt64) throws -> (client: NoiseTransport, server: NoiseTransport) {
    var random = TransportFuzzRandom(seed: seed)
    var pair = try HandshakePair(random: &random)
    try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
    _ = try pair.client.readServerHello(pair.server.makeServerHello(payload: [0]))
    _ = try pair.server.readClientFinish(pair.client.makeClientFinish(payload: [0]))
    return (try pair.client.split(), try pair.server.split())
}

@Suite struct NoiseTransportTests {
    @Test func vectorFramesUseCounterZeroInEachDirection() throws {
        let vector = try NoiseVector.load()
        var client = NoiseHandshake(staticKey: vector.clientStatic, ephemeralKey: vector.clientEphemeral)
        _ = try client.makeClientHello()
        _ = try client.readServerHello(vector.message2)
        _ = try client.makeClientFinish(payload: vector.clientPayload)
        var transport = try client.split()
        // Reading first does not move the write counter: the directions are independent.
        #expect(try transport.decrypt(vector.serverToClientFrame) == vector.serverToClientPlain)
        #expect(transport.writeCounter == 0)
        #expect(transport.readCounter == 1)
        #expect(try transport.encrypt(vector.clientToServerPlain) == vector.clientToServerFrame)
        // The same plaintext under counter 1 is a different frame.
        #expect(try transport.encrypt(vector.clientToServerPlain) != vector.clientToServerFrame)
    }

    @Test func framesMustBeReadInOrder() throws {
        var (client, server) = try transportPair(seed: 1)
        _ = try client.encrypt([1])  // frame 0, never delivered
        let second = try client.encrypt([2])
        #expect(throws: NoiseError(.decryptionFailed)) { try server.decrypt(second) }
    }

    @Test func aFailedDecryptIsFinalAndDoesNotAdvanceTheCounter() throws {
        var (client, server) = try transportPair(seed: 2)
        var frame = try client.encrypt([1, 2, 3])
        let good = frame
        frame[0] ^= 1
        #expect(throws: NoiseError(.decryptionFailed)) { try server.decrypt(frame) }
        #expect(server.readCounter == 0)
        #expect(throws: NoiseError(.alreadyFailed)) { try server.decrypt(good) }
        // The write side still works, e.g. to say goodbye.
        #expect(try client.decrypt(server.encrypt([9])) == [9])
    }

    @Test func anyTamperedByteIsDetected() throws {
        let (client, server) = try transportPair(seed: 3)
        var sender = client
        let frame = try sender.encrypt(Array(0..<40))
        for index in frame.indices {
            var receiver = server
            var bad = frame
            bad[index] ^= 0x80
            #expect(throws: NoiseError(.decryptionFailed)) { try receiver.decrypt(bad) }
        }
    }

    @Test(arguments: [0, 1, 15])
    func framesShorterThanATagAreRejected(length: Int) throws {
        var (_, server) = try transportPair(seed: 4)
        #expect(throws: NoiseError(.invalidLength)) { try server.decrypt([UInt8](repeating: 0, count: length)) }
        #expect(throws: NoiseError(.alreadyFailed)) { try server.decrypt([UInt8](repeating: 0, count: 32)) }
    }

    @Test func countersStopBeforeTheNonceWouldRepeat() throws {
        var (client, server) = try transportPair(seed: 5)
        client.writeCounter = UInt64(UInt32.max)
        server.readCounter = UInt64(UInt32.max)
        let last = try client.encrypt([7])
        #expect(try server.decrypt(last) == [7])
        #expect(throws: NoiseError(.counterExhausted)) { try client.encrypt([8]) }
        #expect(throws: NoiseError(.counterExhausted)) { try server.decrypt(last) }
    }
}
