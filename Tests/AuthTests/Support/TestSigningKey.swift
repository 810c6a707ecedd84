import Crypto
import Foundation
import _CryptoExtras

/// A real private key of one of the allowed algorithms, with its public JWK, for signing test
/// tokens the way the frontend would.
struct TestSigningKey: Sendable {
    enum Material: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let kid: String
    let material: Material

    /// RSA generation is slow in debug builds, so the RSA keys are made once.
    static let rsa = TestSigningKey(kid: "rsa-1", material: .rsa(try! _RSA.Signing.PrivateKey(keySize: .bits2048)))
    static let rsaOther = TestSigningKey(kid: "rsa-2", material: .rsa(try! _RSA.Signing.PrivateKey(keySize: .bits2048)))

    static func p256(_ kid: String) -> TestSigningKey {
        TestSigningKey(kid: kid, material: .p256(P256.Signing.PrivateKey()))
    }

    static func ed25519(_ kid: String) -> TestSigningKey {
        TestSigningKey(kid: kid, material: .ed25519(Curve25519.Signing.PrivateKey()))
    }

    /// This key under another `kid` (for rotation tests).
    func renamed(_ kid: String) -> TestSigningKey {
        TestSigningKey(kid: kid, material: material)
    }

    /// The JWS `alg` this key signs with.
    var algorithm: String {
        switch material {
        case .rsa: "RS256"
        case .p256: "ES256"
        case .ed25519: "EdDSA"
        }
    }

    /// The public JWK, as a frontend publishes it (with `use` and `alg`).
    var jwk: [String: Any] {
        var members: [String: Any] = ["kid": kid, "use": "sig", "alg": algorithm]
        switch material {
        case .rsa(let key):
            let primitives = try! key.publicKey.getKeyPrimitives()
            members["kty"] = "RSA"
            members["n"] = base64URL(primitives.modulus)
            members["e"] = base64URL(primitives.publicExponent)
        case .p256(let key):
            let point = [UInt8](key.publicKey.x963Representation)  // 04 || x || y
            members["kty"] = "EC"
            members["crv"] = "P-256"
            members["x"] = base64URL(point[1..<33])
            members["y"] = base64URL(point[33..<65])
        case .ed25519(let key):
            members["kty"] = "OKP"
            members["crv"] = "Ed25519"
            members["x"] = base64URL(key.publicKey.rawRepresentation)
        }
        return members
    }

    /// The JWS signature over `input`, in the JOSE encoding of the key's algorithm.
    func sign(_ input: [UInt8]) -> [UInt8] {
        switch material {
        case .rsa(let key):
            [UInt8](try! key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case .p256(let key):
            [UInt8](try! key.signature(for: input).rawRepresentation)
        case .ed25519(let key):
            [UInt8](try! key.signature(for: input))
        }
    }

    /// A compact JWS: `header` gets `alg` and `kid` unless it sets them itself (`NSNull()`
    /// removes one).
    func token(claims: [String: Any], header extra: [String: Any] = [:]) -> String {
        var header: [String: Any] = ["alg": algorithm, "kid": kid, "typ": "JWT"]
        for (name, value) in extra { header[name] = value }
        header = header.filter { !($0.value is NSNull) }
        let input = base64URL(json(header)) + "." + base64URL(json(claims))
        return input + "." + base64URL(sign(Array(input.utf8)))
    }
}

/// A JWKS document with these keys' public JWKs (plus `extra` raw members).
func jwksDocument(_ keys: [TestSigningKey], extra: [[String: Any]] = []) -> String {
    String(decoding: json(["keys": keys.map(\.jwk) + extra]), as: UTF8.self)
}

func json(_ object: Any) -> [UInt8] {
    [UInt8](try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
}

func base64URL(_ bytes: some Sequence<UInt8>) -> String {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func base64URL(_ text: String) -> String {
    base64URL(Array(text.utf8))
}
