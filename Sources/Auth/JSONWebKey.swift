import Crypto
import JSON
import _CryptoExtras

/// One verification key from the frontend's key set (RFC 7517), already turned into a
/// swift-crypto public key. Only signature keys of the three allowed types are ever built:
/// symmetric (`oct`) keys, encryption keys and keys of other curves are dropped when the set is
/// read, so they cannot be selected by any token.
struct JSONWebKey: Sendable {
    enum Material: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    /// `kid`, if the key has one.
    let id: String?
    let material: Material
    /// The JWK's own `alg`; when present, tokens must use exactly that algorithm.
    let declaredAlgorithm: JWTAlgorithm?

    /// Why a JWK was dropped, for a debug log line (never key material).
    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads one member of a key set's `keys` array.
    init(_ json: JSONValue) throws(Unusable) {
        guard let object = json.objectValue else { throw Unusable(description: "not an object") }
        func string(_ name: String) throws(Unusable) -> String? {
            guard let member = object[name] else { return nil }
            guard let text = member.stringValue else { throw Unusable(description: "\(name) is not a string") }
            return text
        }
        func bytes(_ name: String) throws(Unusable) -> [UInt8] {
            guard let text = try string(name), let decoded = Base64URL.decode(text), !decoded.isEmpty else {
                throw Unusable(description: "\(name) is missing or not base64url")
            }
            return decoded
        }

        id = try string("kid")
        if let use = try string("use"), use != "sig" {
            throw Unusable(description: "use is not sig")
        }
        if let operations = object["key_ops"] {
            guard let list = operations.arrayValue, list.contains(.string("verify")) else {
                throw Unusable(description: "key_ops does not allow verify")
            }
        }
        if let algorithm = try string("alg") {
            guard let allowed = JWTAlgorithm(headerValue: algorithm) else {
                throw Unusable(description: "alg is not an allowed signature algorithm")
            }
            declaredAlgorithm = allowed
        } else {
            declaredAlgorithm = nil
        }

        switch try string("kty") {
        case "RSA":
            let modulus = try bytes("n")
            let exponent = try bytes("e")
            // BoringSSL checks these too; an exponent of 1 would make every signature forgeable.
            let significant = exponent.drop { $0 == 0 }
            guard significant.count <= 4, modulus.count <= 1024 else {  // 8192 bits bound the cost of verifying
                throw Unusable(description: "RSA parameters out of range")
            }
            let e = significant.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard e >= 3, e % 2 == 1 else { throw Unusable(description: "RSA exponent out of range") }
            do {
                material = .rsa(try _RSA.Signing.PublicKey(n: modulus, e: exponent))  // refuses < 2048 bits
            } catch {
                throw Unusable(description: "RSA key refused (too small or malformed)")
            }
        case "EC":
            guard try string("crv") == "P-256" else { throw Unusable(description: "EC curve is not P-256") }
            let x = try bytes("x")
            let y = try bytes("y")
            guard x.count == 32, y.count == 32 else { throw Unusable(description: "P-256 coordinates are not 32 bytes") }
            do {
                material = .p256(try P256.Signing.PublicKey(x963Representation: [0x04] + x + y))  // checks the point
            } catch {
                throw Unusable(description: "P-256 point refused")
            }
        case "OKP":
            guard try string("crv") == "Ed25519" else { throw Unusable(description: "OKP curve is not Ed25519") }
            let x = try bytes("x")
            guard x.count == 32 else { throw Unusable(description: "Ed25519 key is not 32 bytes") }
            do {
                material = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: x))
            } catch {
                throw Unusable(description: "Ed25519 key refused")
            }
        default:
            throw Unusable(description: "kty is not RSA, EC or OKP")
        }
        if let declaredAlgorithm, !Self.fits(declaredAlgorithm, material) {
            throw Unusable(description: "alg does not fit kty")
        }
    }

    /// Whether a token with this `alg` may be verified with this key.
    func accepts(_ algorithm: JWTAlgorithm) -> Bool {
        if let declaredAlgorithm, declaredAlgorithm != algorithm { return false }
        return Self.fits(algorithm, material)
    }

    private static func fits(_ algorithm: JWTAlgorithm, _ material: Material) -> Bool {
        switch (algorithm, material) {
        case (.rs256, .rsa), (.es256, .p256), (.ed25519, .ed25519): true
        default: false
        }
    }

    /// Verifies a JWS signature over `message` (the ASCII of `header.payload`). Call only after
    /// ``accepts(_:)`` returned true for `algorithm`.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8], algorithm: JWTAlgorithm) -> Bool {
        switch (algorithm, material) {
        case (.rs256, .rsa(let key)):
            guard signature.count == (key.keySizeInBits + 7) / 8 else { return false }
            return key.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature),
                for: message,
                padding: .insecurePKCS1v1_5  // RS256 is PKCS#1 v1.5 by definition (RFC 7518 §3.3)
            )
        case (.es256, .p256(let key)):
            guard signature.count == 64,
                let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: message)
        case (.ed25519, .ed25519(let key)):
            guard signature.count == 64 else { return false }
            return key.isValidSignature(signature, for: message)
        default:
            return false
        }
    }
}
