/// Why a pairing-code step (code parsing, key wrapping, key bundle) failed.
public struct PairingCodeError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidCodeLength, invalidCodeCharacter, invalidRandomLength, invalidKeyLength
            case invalidWrappedLength, invalidKey, bundleAuthenticationFailed, bundleIdentityMismatch
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A code was not 8 characters (or 9 with the dash).
        public static let invalidCodeLength = Code(.invalidCodeLength)
        /// A code held a character outside the alphabet, or a misplaced dash.
        public static let invalidCodeCharacter = Code(.invalidCodeCharacter)
        /// Injected randomness (code bytes, salt, IV, nonce, adv random) had the wrong length.
        public static let invalidRandomLength = Code(.invalidRandomLength)
        /// A public key or shared secret was not 32 bytes.
        public static let invalidKeyLength = Code(.invalidKeyLength)
        /// A wrapped key (80 bytes) or wrapped key bundle (156 bytes) was too short or too long.
        public static let invalidWrappedLength = Code(.invalidWrappedLength)
        /// X25519 refused a key (for example a low-order point).
        public static let invalidKey = Code(.invalidKey)
        /// The key bundle's AES-GCM tag did not verify (wrong code, wrong keys or tampering).
        public static let bundleAuthenticationFailed = Code(.bundleAuthenticationFailed)
        /// The key bundle names a primary identity other than the one opening it.
        public static let bundleIdentityMismatch = Code(.bundleIdentityMismatch)
        public var description: String {
            switch value {
            case .invalidCodeLength: "invalid pairing code length"
            case .invalidCodeCharacter: "invalid pairing code character"
            case .invalidRandomLength: "invalid random input length"
            case .invalidKeyLength: "invalid key length"
            case .invalidWrappedLength: "invalid wrapped data length"
            case .invalidKey: "invalid key"
            case .bundleAuthenticationFailed: "key bundle authentication failed"
            case .bundleIdentityMismatch: "key bundle identity mismatch"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "PairingCodeError: \(code)" }
}
