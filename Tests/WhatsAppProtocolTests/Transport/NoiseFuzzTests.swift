import TestRandom
import Testing

@testable import WhatsAppProtocol

/// Random and mutated handshake messages: the consumers must throw a `NoiseError` (never crash or
/// accept), whatever the lengths and bytes.
@Suite struct NoiseFuzzTests {
    static let rejectionCodes: Set<NoiseError.Code> = [.invalidLength, .decryptionFailed, .invalidKey]

    /// Random length, biased towards the lengths the checks look for.
    static func length(_ random: inout TransportFuzzRandom, near expected: Int) -> Int {
        Bool.random(using: &random) ? expected : Int.random(in: 0...(expected + 40), using: &random)
    }

    /// Applies 1-3 random mutations (flip, insert, delete, truncate), repeating until the bytes differ.
    static func mutate(_ bytes: [UInt8], _ random: inout TransportFuzzRandom) -> [UInt8] {
        var out = bytes
        while out == bytes {
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0...out.count, using: &random)
                switch Int.random(in: 0...3, using: &random) {
                case 0 where at < out.count: out[at] ^= UInt8.random(in: 1...255, using: &random)
                case 1: out.insert(UInt8.random(in: 0...255, using: &random), at: at)
                case 2 where at < out.count: out.remove(at: at)
                default: out.removeLast(out.count - at)
                }
            }
        }
        return out
    }

    @Test func clientRejectsRandomAndMutatedServerHellos() throws {
        var random = TransportFuzzRandom(seed: 0xF022_0001)
        var pair = try HandshakePair(random: &random)
        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        let genuine = try pair.server.makeServerHello(payload: random.bytes(50))
        let waiting = pair.client
        var accepted = 0
        for round in 0..<2500 {
            let hello: NoiseServerHello
            if round.isMultiple(of: 2) {
                hello = NoiseServerHello(
                    ephemeral: random.bytes(Self.length(&random, near: 32)),
                    encryptedStatic: random.bytes(Self.length(&random, near: 48)),
                    encryptedPayload: random.bytes(Self.length(&random, near: 16))
                )
            } else {
                hello = NoiseServerHello(
                    ephemeral: Bool.random(using: &random) ? Self.mutate(genuine.ephemeral, &random) : genuine.ephemeral,
                    encryptedStatic: Bool.random(using: &random) ? Self.mutate(genuine.encryptedStatic, &random) : genuine.encryptedStatic,
                    encryptedPayload: Self.mutate(genuine.encryptedPayload, &random)
                )
            }
            var client = waiting
            do {
                _ = try client.readServerHello(hello)
                accepted += 1
            } catch {
                #expect(Self.rejectionCodes.contains(error.code))
            }
        }
        #expect(accepted == 0)
    }

    @Test func serverRejectsRandomAndMutatedClientFinishes() throws {
        var random = TransportFuzzRandom(seed: 0xF022_0002)
        var pair = try HandshakePair(random: &random)
        try pair.server.readClientHello(ephemeral: pair.client.makeClientHello())
        _ = try pair.client.readServerHello(pair.server.makeServerHello(payload: random.bytes(50)))
        let genuine = try pair.client.makeClientFinish(payload: random.bytes(80))
        let waiting = pair.server
        var accepted = 0
        for round in 0..<2500 {
            let finish: NoiseClientFinish
            if round.isMultiple(of: 2) {
                finish = NoiseClientFinish(
                    encryptedStatic: random.bytes(Self.length(&random, near: 48)),
                    encryptedPayload: random.bytes(Self.length(&random, near: 16))
                )
            } else {
                finish = NoiseClientFinish(
                    encryptedStatic: Bool.random(using: &random) ? Self.mutate(genuine.encryptedStatic, &random) : genuine.encryptedStatic,
                    encryptedPayload: Self.mutate(genuine.encryptedPayload, &random)
                )
            }
            var server = waiting
            do {
                _ = try server.readClientFinish(finish)
                accepted += 1
            } catch {
                #expect(Self.rejectionCodes.contains(error.code))
            }
        }
        #expect(accepted == 0)
    }

    @Test func serverTakesOnlyA32ByteClientEphemeral() throws {
        var random = TransportFuzzRandom(seed: 0xF022_0003)
        let server = try HandshakePair(random: &random).server
        for _ in 0..<2000 {
            let ephemeral = random.bytes(Self.length(&random, near: 32))
            var attempt = server
            do {
                try attempt.readClientHello(ephemeral: ephemeral)
                #expect(ephemeral.count == 32)
            } catch {
                #expect(error.code == .invalidLength && ephemeral.count != 32)
            }
        }
    }

    @Test func transportRejectsRandomFrames() throws {
        var random = TransportFuzzRandom(seed: 0xF022_0004)
        let (_, server) = try transportPair(seed: 0xF022_0005)
        for _ in 0..<3000 {
            var attempt = server
            let frame = random.bytes(Int.random(in: 0...64, using: &random))
            #expect(throws: NoiseError.self) { try attempt.decrypt(frame) }
        }
    }
}
