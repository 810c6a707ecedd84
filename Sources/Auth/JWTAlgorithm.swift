/// The JWS algorithms a login token may use: asymmetric signatures only. `none` and every HMAC
/// (`HS*`) are refused before any key is looked at, so a public key can never be used as a
/// shared secret.
enum JWTAlgorithm: Sendable, Hashable {
    /// RSASSA-PKCS1-v1_5 with SHA-256, modulus of at least 2048 bits.
    case rs256
    /// ECDSA on P-256 with SHA-256, signature as raw `r || s` (64 bytes).
    case es256
    /// Ed25519 (`EdDSA`, or its fully specified name `Ed25519` from RFC 9864).
    case ed25519

    /// The allowed algorithm an `alg` header names, or `nil`. Names are case-sensitive
    /// (RFC 7515 §4.1.1), so `rs256` or `NONE` are refused too.
    init?(headerValue: String) {
        switch headerValue {
        case "RS256": self = .rs256
        case "ES256": self = .es256
        case "EdDSA", "Ed25519": self = .ed25519
        default: return nil
        }
    }
}
