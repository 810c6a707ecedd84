import Testing
import WhatsAppProtocol

struct DeviceCredentialsTests {
    /// SplitMix64, seeded, so generated credentials can be reproduced.
    struct PayloadFuzzRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func injectedRandomnessMakesCredentialsReproducible() {
        var first = PayloadFuzzRandom(state: 42)
        var second = PayloadFuzzRandom(state: 42)
        var other = PayloadFuzzRandom(state: 43)
        let a = DeviceCredentials.generate(using: &first)
        #expect(a == DeviceCredentials.generate(using: &second))
        #expect(a != DeviceCredentials.generate(using: &other))
    }

    @Test func generatedCredentialsAreWellFormed() throws {
        let credentials = DeviceCredentials.generate()
        let keys = [credentials.noiseKey, credentials.identityKey, credentials.signedPreKey.keyPair]
        #expect(Set(keys.map(\.publicKey)).count == 3)
        for key in keys {
            #expect(key.privateKey[0] & 7 == 0 && key.privateKey[31] & 0xC0 == 0x40)
        }
        #expect(credentials.advSecretKey.count == 32)
        #expect(credentials.signedPreKey.id == 1)
        let message = try DJBKey.signedPreKeyMessage(credentials.signedPreKey.keyPair.publicKey)
        #expect(XEdDSA.verify(credentials.signedPreKey.signature, of: message, publicKey: credentials.identityKey.publicKey))
        #expect(DeviceCredentials.generate() != credentials)
    }
}
