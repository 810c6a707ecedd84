/// The key material a companion creates once, before its first registration, and keeps for life.
///
/// Section 2.3 of whatsapp-linking-protocol.md: noise key (Noise static, shown in the QR), identity key,
/// signed prekey 1 signed by the identity key, a registration id and the ADV secret (HMAC key for pair-success).
public struct DeviceCredentials: Sendable, Hashable {
    /// The long-term Noise static key pair.
    public var noiseKey: KeyPair
    /// The Signal identity key pair; signs the signed prekey and the ADV device signature.
    public var identityKey: KeyPair
    /// The signed prekey announced at registration.
    public var signedPreKey: SignedPreKey
    /// The Signal registration id (whatsmeow draws the full `UInt32` range).
    public var registrationID: UInt32
    /// 32 bytes shared with the phone through the QR code; keys the pair-success HMAC.
    public var advSecretKey: [UInt8]

    public init(
        noiseKey: KeyPair, identityKey: KeyPair, signedPreKey: SignedPreKey, registrationID: UInt32,
        advSecretKey: [UInt8]
    ) {
        self.noiseKey = noiseKey
        self.identityKey = identityKey
        self.signedPreKey = signedPreKey
        self.registrationID = registrationID
        self.advSecretKey = advSecretKey
    }

    /// Fresh credentials from the system's cryptographically secure generator.
    public static func generate() -> DeviceCredentials {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// Fresh credentials drawing every private key, id, secret and signature nonce from `generator`,
    /// so tests can make them reproducible. Production code must pass a cryptographically secure generator.
    public static func generate(using generator: inout some RandomNumberGenerator) -> DeviceCredentials {
        let noiseKey = randomKeyPair(using: &generator)
        let identityKey = randomKeyPair(using: &generator)
        let preKey = randomKeyPair(using: &generator)
        let signature = randomBytes(64, using: &generator)
        // Only fails for a zero nonce scalar, which 64 random bytes reduce to with negligible probability.
        let signedPreKey = try! SignedPreKey(id: 1, keyPair: preKey, signedBy: identityKey, random: signature)
        return DeviceCredentials(
            noiseKey: noiseKey, identityKey: identityKey, signedPreKey: signedPreKey,
            registrationID: generator.next(), advSecretKey: randomBytes(32, using: &generator))
    }

    /// A key pair from 32 random bytes, clamped as in X25519 (``KeyPair/generate()`` does the same).
    static func randomKeyPair(using generator: inout some RandomNumberGenerator) -> KeyPair {
        var bytes = randomBytes(32, using: &generator)
        bytes[0] &= 248
        bytes[31] &= 127
        bytes[31] |= 64
        // A 32-byte private key is always accepted.
        return try! KeyPair(privateKey: bytes)
    }

    static func randomBytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// A Signal signed prekey: an id, a key pair and the identity key's signature over `0x05 || publicKey`.
public struct SignedPreKey: Sendable, Hashable {
    /// Sent as 3 bytes big-endian, so at most `0xFFFFFF`.
    public var id: UInt32
    public var keyPair: KeyPair
    /// XEdDSA signature by the identity key over ``DJBKey/signedPreKeyMessage(_:)`` of the public key.
    public var signature: [UInt8]

    /// Wraps an existing signed prekey (e.g. loaded from storage).
    public init(id: UInt32, keyPair: KeyPair, signature: [UInt8]) {
        self.id = id
        self.keyPair = keyPair
        self.signature = signature
    }

    /// Signs `keyPair`'s public key with `identityKey`, using `random` (64 bytes) as the signature nonce input.
    public init(id: UInt32, keyPair: KeyPair, signedBy identityKey: KeyPair, random: [UInt8]) throws(SignatureError) {
        let message = try DJBKey.signedPreKeyMessage(keyPair.publicKey)
        self.init(id: id, keyPair: keyPair, signature: try XEdDSA.sign(message, privateKey: identityKey.privateKey, random: random))
    }
}
