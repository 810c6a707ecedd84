/// libsignal's serialized public key: the key type byte `0x05` ("DJB", Curve25519) and the raw 32-byte key.
///
/// WhatsApp uses this 33-byte form in few places, most importantly as the message that the identity key signs
/// for the signed prekey (`eSkeySig`, `<skey><signature>`). Everywhere else keys travel raw.
public enum DJBKey {
    /// The key type byte, also sent alone as `eKeytype` and as the prekey-upload `<type>`.
    public static let typeByte: UInt8 = 0x05

    /// `0x05 || publicKey`.
    public static func serialize(_ publicKey: [UInt8]) throws(SignatureError) -> [UInt8] {
        guard publicKey.count == 32 else { throw SignatureError(.invalidPublicKey) }
        return [typeByte] + publicKey
    }

    /// The message a signed prekey's signature covers: `0x05 || signedPreKeyPublic`.
    public static func signedPreKeyMessage(_ signedPreKeyPublic: [UInt8]) throws(SignatureError) -> [UInt8] {
        try serialize(signedPreKeyPublic)
    }
}
