import Testing
@testable import WhatsAppProtocol

@Suite struct KeyPairTests {
    @Test func generatedKeysAreClampedAndAgree() throws {
        let alice = KeyPair.generate()
        let bob = KeyPair.generate()
        #expect(alice.privateKey[0] & 7 == 0)
        #expect(alice.privateKey[31] & 0x80 == 0)
        #expect(alice.privateKey[31] & 0x40 == 0x40)
        #expect(try alice.sharedSecret(with: bob.publicKey) == bob.sharedSecret(with: alice.publicKey))
    }

    @Test func wrongLengthsAreRejected() {
        #expect(throws: KeyError.self) { try KeyPair(privateKey: [1, 2, 3]) }
        #expect(throws: KeyError.self) { try KeyPair.generate().sharedSecret(with: [0]) }
    }
}
