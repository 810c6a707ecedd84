import Crypto
import Foundation

/// A Curve25519 key pair as WhatsApp uses it: raw 32-byte private scalar and raw 32-byte Montgomery `u`
/// public key (no `0x05` prefix).
public struct KeyPair: Sendable, Hashable {
    /// The 32-byte private key, as given (``generate()`` produces clamped keys).
    public let privateKey: [UInt8]
    /// The 32-byte public key (X25519 base-point multiple).
    public let publicKey: [UInt8]

    /// Derives the public key from a 32-byte private key.
    public init(privateKey: [UInt8]) throws(KeyError) {
        guard privateKey.count == 32 else { throw KeyError(.invalidLength) }
        do {
            let key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey)
            self.privateKey = privateKey
            self.publicKey = Array(key.publicKey.rawRepresentation)
        } catch {
            throw KeyError(.invalidKey)
        }
    }

    /// A fresh random key pair with the private key clamped as in X25519 (`&248`, `&127`, `|64`).
    public static func generate() -> KeyPair {
        var bytes = Array(Curve25519.KeyAgreement.PrivateKey().rawRepresentation)
        bytes[0] &= 248
        bytes[31] &= 127
        bytes[31] |= 64
        // A 32-byte input is always accepted.
        return try! KeyPair(privateKey: bytes)
    }

    /// X25519 of this private key with a peer's 32-byte public key.
    ///
    /// A low-order peer key gives the all-zero secret; swift-crypto returns it without complaint on
    /// Linux, so it is refused here (as Go's X25519 does for whatsmeow): a peer could otherwise force
    /// a known key.
    public func sharedSecret(with peerPublicKey: [UInt8]) throws(KeyError) -> [UInt8] {
        guard peerPublicKey.count == 32 else { throw KeyError(.invalidLength) }
        let secret: [UInt8]
        do {
            let mine = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateKey)
            let theirs = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peerPublicKey)
            secret = try mine.sharedSecretFromKeyAgreement(with: theirs).withUnsafeBytes { Array($0) }
        } catch {
            throw KeyError(.invalidKey)
        }
        guard secret.contains(where: { $0 != 0 }) else { throw KeyError(.invalidKey) }
        return secret
    }
}

/// Why a key could not be used.
public struct KeyError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case invalidLength, invalidKey }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A key was not 32 bytes long.
        public static let invalidLength = Code(.invalidLength)
        /// The library refused the key, or a low-order peer key gave the all-zero secret.
        public static let invalidKey = Code(.invalidKey)
        public var description: String {
            switch value {
            case .invalidLength: "invalid key length"
            case .invalidKey: "invalid key"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "KeyError: \(code)" }
}
