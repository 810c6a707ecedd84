/// The fields of `HandshakeMessage.serverHello` (spec 10): the server's ephemeral key, its encrypted
/// static key and its encrypted payload (a serialized CertChain). Plain bytes so this layer does not
/// depend on the generated protobuf types.
public struct NoiseServerHello: Sendable, Hashable {
    /// 32 bytes.
    public var ephemeral: [UInt8]
    /// 48 bytes: the 32-byte static key and a 16-byte tag.
    public var encryptedStatic: [UInt8]
    /// The payload and a 16-byte tag.
    public var encryptedPayload: [UInt8]

    public init(ephemeral: [UInt8], encryptedStatic: [UInt8], encryptedPayload: [UInt8]) {
        self.ephemeral = ephemeral
        self.encryptedStatic = encryptedStatic
        self.encryptedPayload = encryptedPayload
    }
}

/// The fields of `HandshakeMessage.clientFinish`: the client's encrypted static key and its encrypted
/// payload (a serialized ClientPayload), sent as two separate protobuf fields.
public struct NoiseClientFinish: Sendable, Hashable {
    /// 48 bytes: the 32-byte static key and a 16-byte tag.
    public var encryptedStatic: [UInt8]
    /// The payload and a 16-byte tag.
    public var encryptedPayload: [UInt8]

    public init(encryptedStatic: [UInt8], encryptedPayload: [UInt8]) {
        self.encryptedStatic = encryptedStatic
        self.encryptedPayload = encryptedPayload
    }
}

/// What a handshake learned from the peer: its static public key and the decrypted payload. Nothing is
/// verified here: the client must check the certificate chain in `payload` against `staticKey`, the
/// server must check the ClientPayload.
public struct NoisePeer: Sendable, Hashable {
    /// The peer's raw 32-byte Curve25519 static public key.
    public var staticKey: [UInt8]
    /// The decrypted payload bytes.
    public var payload: [UInt8]

    public init(staticKey: [UInt8], payload: [UInt8]) {
        self.staticKey = staticKey
        self.payload = payload
    }
}
