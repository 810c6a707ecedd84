/// Why a Noise handshake step or a transport frame failed.
public struct NoiseError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidLength, invalidKey, decryptionFailed, unexpectedStep, alreadyFailed, counterExhausted,
                cryptoFailure, malformedMessage
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A field had the wrong length (ephemeral not 32 bytes, encrypted static not 48, ciphertext shorter
        /// than its 16-byte tag).
        public static let invalidLength = Code(.invalidLength)
        /// X25519 refused a peer public key (for example a low-order point).
        public static let invalidKey = Code(.invalidKey)
        /// AES-GCM authentication failed: wrong key, tampered bytes or a different handshake transcript.
        public static let decryptionFailed = Code(.decryptionFailed)
        /// A handshake method was called out of order (or after ``NoiseHandshake/split()``).
        public static let unexpectedStep = Code(.unexpectedStep)
        /// An earlier error left this handshake, or the read side of this transport, unusable.
        public static let alreadyFailed = Code(.alreadyFailed)
        /// 2^32 frames were sent or received in one direction; the 32-bit nonce would repeat.
        public static let counterExhausted = Code(.counterExhausted)
        /// The crypto library refused an operation that valid keys never trigger.
        public static let cryptoFailure = Code(.cryptoFailure)
        /// A handshake frame is not a `HandshakeMessage` protobuf holding the expected message with its
        /// fields present and of the right length (``NoiseHandshakeMessages``).
        public static let malformedMessage = Code(.malformedMessage)
        public var description: String {
            switch value {
            case .invalidLength: "invalid length"
            case .invalidKey: "invalid key"
            case .decryptionFailed: "decryption failed"
            case .unexpectedStep: "unexpected handshake step"
            case .alreadyFailed: "already failed"
            case .counterExhausted: "nonce counter exhausted"
            case .cryptoFailure: "crypto library failure"
            case .malformedMessage: "malformed handshake message"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "NoiseError: \(code)" }
}
