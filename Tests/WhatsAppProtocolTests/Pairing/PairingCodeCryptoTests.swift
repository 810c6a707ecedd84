import Testing
import WhatsAppProtocol

/// Everything `pairing-code.json` holds, reproduced from its private keys and random inputs.
@Suite struct PairingCodeCryptoTests {
    let vector: PairingCodeVector
    let code: PairingCode
    let companionEphemeral: KeyPair
    let companionIdentity: KeyPair
    let primaryEphemeral: KeyPair
    let primaryIdentity: KeyPair

    init() throws {
        vector = try PairingCodeVector.load()
        code = try PairingCode(randomBytes: vector.codeBytes)
        companionEphemeral = try KeyPair(privateKey: vector.key("comp_eph"))
        companionIdentity = try KeyPair(privateKey: vector.key("comp_ident"))
        primaryEphemeral = try KeyPair(privateKey: vector.key("prim_eph"))
        primaryIdentity = try KeyPair(privateKey: vector.key("prim_ident"))
    }

    var randomness: PairingCodeCrypto.FinishRandomness {
        get throws {
            PairingCodeCrypto.FinishRandomness(
                advRandom: try vector.key("adv_rand"), bundleSalt: try vector.key("kb_salt"),
                bundleNonce: try vector.key("kb_nonce"))
        }
    }

    @Test func wrapsCompanionEphemeral() throws {
        let wrapped = try PairingCodeCrypto.wrapEphemeralKey(
            companionEphemeral.publicKey, code: code, salt: vector.key("salt1"), iv: vector.key("iv1"))
        #expect(hex(wrapped) == hex(vector.wrappedCompanionEphemeral))
        #expect(wrapped.count == PairingCodeCrypto.wrappedKeyLength)
    }

    @Test func wrapsPrimaryEphemeral() throws {
        let wrapped = try PairingCodeCrypto.wrapEphemeralKey(
            primaryEphemeral.publicKey, code: code, salt: vector.key("salt2"), iv: vector.key("iv2"))
        #expect(hex(wrapped) == hex(vector.wrappedPrimaryEphemeral))
    }

    @Test func unwrapsBoth() throws {
        #expect(
            try PairingCodeCrypto.unwrapEphemeralKey(vector.wrappedCompanionEphemeral, code: code)
                == companionEphemeral.publicKey)
        #expect(
            try PairingCodeCrypto.unwrapEphemeralKey(vector.wrappedPrimaryEphemeral, code: code)
                == primaryEphemeral.publicKey)
        // The dashed form parses to the same KDF password.
        let typed = try PairingCode(parsing: vector.display)
        #expect(
            try PairingCodeCrypto.unwrapEphemeralKey(vector.wrappedPrimaryEphemeral, code: typed)
                == primaryEphemeral.publicKey)
    }

    @Test func wrongCodeGivesAnotherKey() throws {
        let other = try PairingCode(parsing: "BTBE-23JG")
        #expect(
            try PairingCodeCrypto.unwrapEphemeralKey(vector.wrappedPrimaryEphemeral, code: other)
                != primaryEphemeral.publicKey)
    }

    @Test func unwrapIgnoresTrailingBytesButNeedsEighty() throws {
        #expect(
            try PairingCodeCrypto.unwrapEphemeralKey(vector.wrappedPrimaryEphemeral + [1, 2, 3], code: code)
                == primaryEphemeral.publicKey)
        #expect(throws: PairingCodeError(.invalidWrappedLength)) {
            try PairingCodeCrypto.unwrapEphemeralKey(Array(vector.wrappedPrimaryEphemeral.prefix(79)), code: code)
        }
    }

    @Test func companionFinishReproducesBundleAndAdvSecret() throws {
        let finish = try PairingCodeCrypto.companionFinish(
            code: code, companionEphemeral: companionEphemeral, companionIdentity: companionIdentity,
            wrappedPrimaryEphemeral: vector.wrappedPrimaryEphemeral,
            primaryIdentityPublicKey: primaryIdentity.publicKey, randomness: randomness)
        #expect(hex(finish.wrappedKeyBundle) == hex(vector.wrappedKeyBundle))
        #expect(finish.wrappedKeyBundle.count == PairingCodeCrypto.wrappedKeyBundleLength)
        #expect(hex(finish.advSecret) == hex(vector.advSecret))
    }

    @Test func primaryFinishRecoversCompanionAndAdvSecret() throws {
        let finish = try PairingCodeCrypto.primaryFinish(
            code: code, primaryEphemeral: primaryEphemeral, primaryIdentity: primaryIdentity,
            wrappedCompanionEphemeral: vector.wrappedCompanionEphemeral, wrappedKeyBundle: vector.wrappedKeyBundle)
        #expect(finish.companionIdentityPublicKey == companionIdentity.publicKey)
        #expect(hex(finish.advSecret) == hex(vector.advSecret))
    }

    @Test func openKeyBundleGivesThePlaintext() throws {
        let shared = try primaryEphemeral.sharedSecret(with: companionEphemeral.publicKey)
        let bundle = try PairingCodeCrypto.openKeyBundle(vector.wrappedKeyBundle, ephemeralShared: shared)
        #expect(bundle.companionIdentityPublicKey == companionIdentity.publicKey)
        #expect(bundle.primaryIdentityPublicKey == primaryIdentity.publicKey)
        #expect(bundle.advRandom == (try vector.key("adv_rand")))
    }

    @Test func advSecretFromItsParts() throws {
        let ephemeralShared = try companionEphemeral.sharedSecret(with: primaryEphemeral.publicKey)
        let identityShared = try companionIdentity.sharedSecret(with: primaryIdentity.publicKey)
        let secret = try PairingCodeCrypto.advSecret(
            ephemeralShared: ephemeralShared, identityShared: identityShared, advRandom: vector.key("adv_rand"))
        #expect(hex(secret) == hex(vector.advSecret))
    }

    @Test func tamperedBundleIsRefused() throws {
        let shared = try primaryEphemeral.sharedSecret(with: companionEphemeral.publicKey)
        for index in [0, 32, 44, 100, 155] {  // salt, nonce, ciphertext, tag
            var tampered = vector.wrappedKeyBundle
            tampered[index] ^= 0x01
            #expect(throws: PairingCodeError(.bundleAuthenticationFailed)) {
                try PairingCodeCrypto.openKeyBundle(tampered, ephemeralShared: shared)
            }
        }
        #expect(throws: PairingCodeError(.invalidWrappedLength)) {
            try PairingCodeCrypto.openKeyBundle(Array(vector.wrappedKeyBundle.dropLast()), ephemeralShared: shared)
        }
    }

    @Test func bundleForAnotherPrimaryIsRefused() throws {
        let stranger = try KeyPair(privateKey: [UInt8](repeating: 0x42, count: 32))
        let finish = try PairingCodeCrypto.companionFinish(
            code: code, companionEphemeral: companionEphemeral, companionIdentity: companionIdentity,
            wrappedPrimaryEphemeral: vector.wrappedPrimaryEphemeral, primaryIdentityPublicKey: stranger.publicKey,
            randomness: randomness)
        #expect(throws: PairingCodeError(.bundleIdentityMismatch)) {
            try PairingCodeCrypto.primaryFinish(
                code: code, primaryEphemeral: primaryEphemeral, primaryIdentity: primaryIdentity,
                wrappedCompanionEphemeral: vector.wrappedCompanionEphemeral,
                wrappedKeyBundle: finish.wrappedKeyBundle)
        }
    }

    @Test func wrongInputLengthsAreRefused() throws {
        let salt = try vector.key("salt1")
        let iv = try vector.key("iv1")
        let pub = companionEphemeral.publicKey
        #expect(throws: PairingCodeError(.invalidKeyLength)) {
            try PairingCodeCrypto.wrapEphemeralKey(Array(pub.prefix(31)), code: code, salt: salt, iv: iv)
        }
        #expect(throws: PairingCodeError(.invalidRandomLength)) {
            try PairingCodeCrypto.wrapEphemeralKey(pub, code: code, salt: Array(salt.prefix(16)), iv: iv)
        }
        #expect(throws: PairingCodeError(.invalidRandomLength)) {
            try PairingCodeCrypto.wrapEphemeralKey(pub, code: code, salt: salt, iv: Array(iv.prefix(12)))
        }
        let good = try randomness
        let shortNonce = PairingCodeCrypto.FinishRandomness(
            advRandom: good.advRandom, bundleSalt: good.bundleSalt, bundleNonce: Array(good.bundleNonce.prefix(8)))
        #expect(throws: PairingCodeError(.invalidRandomLength)) {
            try PairingCodeCrypto.companionFinish(
                code: code, companionEphemeral: companionEphemeral, companionIdentity: companionIdentity,
                wrappedPrimaryEphemeral: vector.wrappedPrimaryEphemeral,
                primaryIdentityPublicKey: primaryIdentity.publicKey, randomness: shortNonce)
        }
        #expect(throws: PairingCodeError(.invalidKeyLength)) {
            try PairingCodeCrypto.companionFinish(
                code: code, companionEphemeral: companionEphemeral, companionIdentity: companionIdentity,
                wrappedPrimaryEphemeral: vector.wrappedPrimaryEphemeral,
                primaryIdentityPublicKey: [0x05] + primaryIdentity.publicKey, randomness: good)
        }
        #expect(throws: PairingCodeError(.invalidRandomLength)) {
            try PairingCodeCrypto.advSecret(ephemeralShared: salt, identityShared: salt, advRandom: iv)
        }
    }

    /// A low-order point (here u = 0) as the primary's ephemeral key is refused by X25519, not used.
    @Test func lowOrderPeerKeyIsRefused() throws {
        let wrappedZero = try PairingCodeCrypto.wrapEphemeralKey(
            [UInt8](repeating: 0, count: 32), code: code, salt: vector.key("salt2"), iv: vector.key("iv2"))
        #expect(throws: PairingCodeError(.invalidKey)) {
            try PairingCodeCrypto.companionFinish(
                code: code, companionEphemeral: companionEphemeral, companionIdentity: companionIdentity,
                wrappedPrimaryEphemeral: wrappedZero, primaryIdentityPublicKey: primaryIdentity.publicKey,
                randomness: randomness)
        }
    }
}
