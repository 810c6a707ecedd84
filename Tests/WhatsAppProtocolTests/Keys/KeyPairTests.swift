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

@Suite struct KeyPairLowOrderTests {
    @Test func lowOrderPeerKeysAreRefused() {
        // u = 0 and u = 1 are small-order points: X25519 with them yields all zeros.
        let mine = KeyPair.generate()
        #expect(throws: KeyError(.invalidKey)) { try mine.sharedSecret(with: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: KeyError(.invalidKey)) { try mine.sharedSecret(with: [1] + [UInt8](repeating: 0, count: 31)) }
    }
}
