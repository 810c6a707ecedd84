/// Why a signature could not be made or a key could not be encoded.
///
/// A signature that simply does not verify is not an error: ``XEdDSA/verify(_:of:publicKey:)`` returns `false`.
public struct SignatureError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case invalidPrivateKey, invalidPublicKey, invalidRandom, signingFailed }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The private key was not 32 bytes long.
        public static let invalidPrivateKey = Code(.invalidPrivateKey)
        /// The public key was not 32 bytes long.
        public static let invalidPublicKey = Code(.invalidPublicKey)
        /// The signing randomness was not 64 bytes long.
        public static let invalidRandom = Code(.invalidRandom)
        /// libsodium refused a scalar (a zero scalar; negligible probability with real keys and randomness).
        public static let signingFailed = Code(.signingFailed)
        public var description: String {
            switch value {
            case .invalidPrivateKey: "invalid private key length"
            case .invalidPublicKey: "invalid public key length"
            case .invalidRandom: "invalid signing randomness length"
            case .signingFailed: "signing failed"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "SignatureError: \(code)" }
}
