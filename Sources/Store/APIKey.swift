import Crypto
import Foundation

/// What the store keeps about an API key: never the key itself, only its SHA-256 hash (in the
/// store) and a short display prefix so people can tell their keys apart.
public struct APIKey: Sendable, Hashable {
    /// `key_` + a sortable id; safe to show and log.
    public var id: String
    public var organization: String
    public var name: String?
    public var permissions: Set<String>
    /// The first 8 characters after `wlk_`; not enough to guess the rest (43 base62 characters).
    public var displayPrefix: String
    public var createdAt: Date
    public var revokedAt: Date?

    public var isRevoked: Bool { revokedAt != nil }

    public init(id: String, organization: String, name: String?, permissions: Set<String>, displayPrefix: String, createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.organization = organization
        self.name = name
        self.permissions = permissions
        self.displayPrefix = displayPrefix
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Prefix of API key ids.
    public static let idPrefix = "key_"
}

/// The answer of `createAPIKey`: the only time the plaintext key exists outside the caller.
/// `description` hides the key so logging this value leaks nothing.
public struct CreatedAPIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `wlk_` + 43 base62 characters (256 random bits). Show it once, then forget it.
    public let key: String
    public let record: APIKey

    public init(key: String, record: APIKey) {
        self.key = key
        self.record = record
    }

    public var description: String { "CreatedAPIKey(id: \(record.id), key: wlk_\(record.displayPrefix)…)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["record": record]) }
}

/// The shape of walink API keys and how they are hashed; shared by every store implementation.
public enum APIKeyFormat {
    public static let prefix = "wlk_"
    /// Base62 characters after the prefix: 62^43 > 2^256, so 43 hold 32 random bytes.
    public static let bodyLength = 43
    static let displayPrefixLength = 8
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// True for strings that can be walink API keys (prefix, length, alphabet); a cheap check
    /// that tells API keys from JWTs before any lookup.
    public static func isWellFormed(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard key.hasPrefix(prefix), utf8.count == prefix.utf8.count + bodyLength else { return false }
        return utf8.dropFirst(prefix.utf8.count).allSatisfy { alphabet.contains($0) }
    }

    /// A new key from 32 bytes of the system CSPRNG.
    package static func generate() -> String {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        return prefix + base62(bytes, length: bodyLength)
    }

    package static func displayPrefix(of key: String) -> String {
        String(key.dropFirst(prefix.count).prefix(displayPrefixLength))
    }

    /// SHA-256 of the whole key. A plain (unsalted, fast) hash is enough here: the keys are 256-bit
    /// uniformly random values, so there is no dictionary to precompute and brute force is out of
    /// reach; salts and slow hashes exist for low-entropy passwords. A plain hash also lets the
    /// store find a key by an index on its hash.
    package static func hash(_ key: String) -> SHA256.Digest {
        SHA256.hash(data: Data(key.utf8))
    }

    /// Big-endian base conversion, left-padded with "0" to `length` digits.
    private static func base62(_ bytes: [UInt8], length: Int) -> String {
        var number = bytes
        var digits: [UInt8] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in number.indices {
                let value = remainder << 8 | Int(number[index])
                number[index] = UInt8(value / 62)
                remainder = value % 62
            }
            digits.append(alphabet[remainder])
        }
        while digits.count < length { digits.append(alphabet[0]) }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }
}
