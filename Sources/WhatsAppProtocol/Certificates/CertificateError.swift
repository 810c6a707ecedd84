/// Why a server certificate chain was rejected, one code per check of section 1.6 (in the order they run).
public struct CertificateError: Error, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidRootKey, malformedChain, missingField, invalidSignatureLength
            case intermediateSignatureInvalid, malformedIntermediateDetails, intermediateIssuerSerialNotZero
            case intermediateKeyInvalidLength, leafSignatureInvalid, intermediateNotYetValid, intermediateExpired
            case malformedLeafDetails, leafIssuerSerialMismatch, leafKeyMismatch, leafNotYetValid, leafExpired
            case invalidServerStaticKey, signingFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The configured root public key is not 32 bytes.
        public static let invalidRootKey = Code(.invalidRootKey)
        /// The bytes are not a `CertChain` protobuf.
        public static let malformedChain = Code(.malformedChain)
        /// A certificate, its `details` or its `signature` is absent.
        public static let missingField = Code(.missingField)
        /// A signature is not exactly 64 bytes.
        public static let invalidSignatureLength = Code(.invalidSignatureLength)
        /// The intermediate is not signed by the root key.
        public static let intermediateSignatureInvalid = Code(.intermediateSignatureInvalid)
        /// The intermediate's `details` bytes are not a `Details` protobuf.
        public static let malformedIntermediateDetails = Code(.malformedIntermediateDetails)
        /// The intermediate claims an issuer other than the root (serial 0).
        public static let intermediateIssuerSerialNotZero = Code(.intermediateIssuerSerialNotZero)
        /// The intermediate's key is not 32 bytes.
        public static let intermediateKeyInvalidLength = Code(.intermediateKeyInvalidLength)
        /// The leaf is not signed by the intermediate's key.
        public static let leafSignatureInvalid = Code(.leafSignatureInvalid)
        /// `now` is before the intermediate's `notBefore`.
        public static let intermediateNotYetValid = Code(.intermediateNotYetValid)
        /// `now` is after the intermediate's `notAfter`.
        public static let intermediateExpired = Code(.intermediateExpired)
        /// The leaf's `details` bytes are not a `Details` protobuf.
        public static let malformedLeafDetails = Code(.malformedLeafDetails)
        /// The leaf's issuer serial is not the intermediate's serial.
        public static let leafIssuerSerialMismatch = Code(.leafIssuerSerialMismatch)
        /// The leaf certifies a key other than the server static key of this handshake.
        public static let leafKeyMismatch = Code(.leafKeyMismatch)
        /// `now` is before the leaf's `notBefore`.
        public static let leafNotYetValid = Code(.leafNotYetValid)
        /// `now` is after the leaf's `notAfter`.
        public static let leafExpired = Code(.leafExpired)
        /// The server static key given to the builder is not 32 bytes.
        public static let invalidServerStaticKey = Code(.invalidServerStaticKey)
        /// The builder could not sign (libsodium refused a scalar; never seen with real keys).
        public static let signingFailed = Code(.signingFailed)

        public var description: String {
            switch value {
            case .invalidRootKey: "invalid root key"
            case .malformedChain: "malformed certificate chain"
            case .missingField: "missing certificate field"
            case .invalidSignatureLength: "invalid certificate signature length"
            case .intermediateSignatureInvalid: "intermediate certificate not signed by root"
            case .malformedIntermediateDetails: "malformed intermediate certificate details"
            case .intermediateIssuerSerialNotZero: "intermediate issuer serial is not 0"
            case .intermediateKeyInvalidLength: "intermediate certificate key is not 32 bytes"
            case .leafSignatureInvalid: "leaf certificate not signed by intermediate"
            case .intermediateNotYetValid: "intermediate certificate not yet valid"
            case .intermediateExpired: "intermediate certificate expired"
            case .malformedLeafDetails: "malformed leaf certificate details"
            case .leafIssuerSerialMismatch: "leaf issuer serial does not match intermediate serial"
            case .leafKeyMismatch: "leaf certificate key is not the server static key"
            case .leafNotYetValid: "leaf certificate not yet valid"
            case .leafExpired: "leaf certificate expired"
            case .invalidServerStaticKey: "invalid server static key"
            case .signingFailed: "certificate signing failed"
            }
        }
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "CertificateError: \(code)" }
}
