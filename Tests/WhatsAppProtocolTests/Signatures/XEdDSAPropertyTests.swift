import TestRandom
import Testing
import WhatsAppProtocol

/// Our own signatures verify, for both Edwards sign bits, and any single flipped bit breaks them.
struct XEdDSAPropertyTests {
    /// Fresh key pairs until one of each sign bit is found (about two tries on average).
    static func keysOfBothSignBits() throws -> [UInt8: KeyPair] {
        var found: [UInt8: KeyPair] = [:]
        var attempts = 0
        while found.count < 2 && attempts < 200 {
            attempts += 1
            let pair = KeyPair.generate()
            let signature = try XEdDSA.sign([1, 2, 3], privateKey: pair.privateKey)
            found[signature[63] >> 7] = found[signature[63] >> 7] ?? pair
        }
        return found
    }

    @Test func ownSignaturesVerifyForBothSignBits() throws {
        let keys = try Self.keysOfBothSignBits()
        #expect(keys.count == 2)
        var random = SignatureFuzzRandom(seed: 0x5167_0001)
        for (_, pair) in keys {
            for length in [0, 1, 33, 200] {
                let message = random.bytes(length)
                let signature = try XEdDSA.sign(message, privateKey: pair.privateKey)
                #expect(signature.count == 64)
                #expect(XEdDSA.verify(signature, of: message, publicKey: pair.publicKey))
                let injected = try XEdDSA.sign(message, privateKey: pair.privateKey, random: random.bytes(64))
                #expect(XEdDSA.verify(injected, of: message, publicKey: pair.publicKey))
            }
        }
    }

    /// Every message bit, and a seeded sample of signature and key bits (each verification costs a BigInt
    /// inversion, so all 767 would make the test slow in debug builds).
    @Test func anyFlippedBitFails() throws {
        let keys = try Self.keysOfBothSignBits()
        #expect(keys.count == 2)
        var random = SignatureFuzzRandom(seed: 0x5167_0002)
        for (_, pair) in keys {
            let message = random.bytes(8)
            let signature = try XEdDSA.sign(message, privateKey: pair.privateKey, random: random.bytes(64))
            #expect(XEdDSA.verify(signature, of: message, publicKey: pair.publicKey))
            for bit in 0..<(message.count * 8) {
                var changed = message
                changed[bit / 8] ^= 1 << (bit % 8)
                #expect(!XEdDSA.verify(signature, of: changed, publicKey: pair.publicKey), "message bit \(bit)")
            }
            // Always the top bits of R and S (S's top bit carries the sign bit), then random ones.
            let signatureBits = [255, 511, 0, 256] + (0..<96).map { _ in Int.random(in: 0..<512, using: &random) }
            for bit in signatureBits {
                var changed = signature
                changed[bit / 8] ^= 1 << (bit % 8)
                #expect(!XEdDSA.verify(changed, of: message, publicKey: pair.publicKey), "signature bit \(bit)")
            }
            // Bit 255 of a Montgomery u is not part of the key (verifiers clear it), so it is never flipped.
            let keyBits = [0, 254] + (0..<62).map { _ in Int.random(in: 0..<255, using: &random) }
            for bit in keyBits {
                var changed = pair.publicKey
                changed[bit / 8] ^= 1 << (bit % 8)
                #expect(!XEdDSA.verify(signature, of: message, publicKey: changed), "key bit \(bit)")
            }
            var highBitSet = pair.publicKey
            highBitSet[31] ^= 0x80
            #expect(XEdDSA.verify(signature, of: message, publicKey: highBitSet))
        }
    }

    @Test func wrongLengthsAreRejected() throws {
        let pair = KeyPair.generate()
        #expect(throws: SignatureError(.invalidRandom)) {
            try XEdDSA.sign([1], privateKey: pair.privateKey, random: [UInt8](repeating: 0, count: 63))
        }
        #expect(throws: SignatureError(.invalidPrivateKey)) {
            try XEdDSA.sign([1], privateKey: [UInt8](repeating: 1, count: 31))
        }
        let signature = try XEdDSA.sign([1], privateKey: pair.privateKey)
        #expect(!XEdDSA.verify(Array(signature.dropLast()), of: [1], publicKey: pair.publicKey))
        #expect(!XEdDSA.verify(signature, of: [1], publicKey: Array(pair.publicKey.dropLast())))
    }

    @Test func djbKeyPrefixesTheTypeByte() throws {
        let pair = KeyPair.generate()
        let serialized = try DJBKey.serialize(pair.publicKey)
        #expect(serialized.count == 33)
        #expect(serialized.first == 0x05)
        #expect(Array(serialized.dropFirst()) == pair.publicKey)
        #expect(try DJBKey.signedPreKeyMessage(pair.publicKey) == serialized)
        #expect(throws: SignatureError(.invalidPublicKey)) { try DJBKey.serialize([0x05] + pair.publicKey) }
    }
}
