import TestRandom
import Testing
import WhatsAppProtocol

struct DeviceCredentialsTests {
    @Test func injectedRandomnessMakesCredentialsReproducible() {
        var first = SeededRandom(seed: 42)
        var second = SeededRandom(seed: 42)
        var other = SeededRandom(seed: 43)
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
