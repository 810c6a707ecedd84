/// Why a caller was not authenticated, or why authentication could not be configured.
///
/// Equality compares codes only. The message is a safe sentence for the caller: it never contains
/// the token, the API key, key material or claim values, so it can go into a 401 reply and a log.
public struct AuthError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The machine-readable name, for `details.reason` of a 401 reply.
        public let name: String
        /// The HTTP-equivalent status: 401 for the caller's credentials, 503 when we could not
        /// check them, 500 for a bad configuration.
        public let status: Int

        private init(_ name: String, _ status: Int) {
            self.name = name
            self.status = status
        }

        /// No `authorization` header, or an empty one.
        public static let missingCredentials = Code("missing_credentials", 401)
        /// The header is not `Bearer <token>`, or the token has characters a token cannot have.
        public static let malformedAuthorization = Code("malformed_authorization", 401)
        /// The token is longer than ``AuthConfiguration/maxTokenLength``.
        public static let tokenTooLarge = Code("token_too_large", 401)
        /// Not a JWS compact serialization, or its header or claims are not the JSON we need.
        public static let malformedToken = Code("malformed_token", 401)
        /// The header's `alg` is not RS256, ES256 or EdDSA (for example `none` or `HS256`).
        public static let algorithmNotAllowed = Code("algorithm_not_allowed", 401)
        /// The key set has several keys and the token names none with `kid`.
        public static let missingKeyID = Code("missing_key_id", 401)
        /// No key with the token's `kid`, even after fetching the key set again.
        public static let unknownKey = Code("unknown_key", 401)
        /// The key the token names is of another type than its `alg` needs.
        public static let keyMismatch = Code("key_mismatch", 401)
        /// The signature does not verify.
        public static let invalidSignature = Code("invalid_signature", 401)
        /// `exp` has passed (beyond the leeway).
        public static let expired = Code("token_expired", 401)
        /// `nbf` has not come yet (beyond the leeway).
        public static let notYetValid = Code("token_not_yet_valid", 401)
        /// `iat` is in the future (beyond the leeway).
        public static let issuedInFuture = Code("token_issued_in_future", 401)
        /// `iss` is not the configured issuer.
        public static let invalidIssuer = Code("invalid_issuer", 401)
        /// `aud` does not name a configured audience.
        public static let invalidAudience = Code("invalid_audience", 401)
        /// A required claim (`exp`, `sub`, the organization) is missing or not what it must be.
        public static let invalidClaims = Code("invalid_claims", 401)
        /// JWT login is disabled (no `WALINK_JWKS_URL`) and the token is not an API key.
        public static let jwtDisabled = Code("jwt_disabled", 401)
        /// The token is an API key but this worker resolves none.
        public static let apiKeysDisabled = Code("api_keys_disabled", 401)
        /// No API key with this value.
        public static let unknownAPIKey = Code("unknown_api_key", 401)
        /// The API key was revoked or has expired.
        public static let revokedAPIKey = Code("revoked_api_key", 401)
        /// The key set could not be loaded (never fetched successfully); retry later.
        public static let keysUnavailable = Code("keys_unavailable", 503)
        /// The API key store failed; retry later.
        public static let apiKeyLookupFailed = Code("api_key_lookup_failed", 503)
        /// A setting is missing or malformed; the message names the environment variable.
        public static let invalidConfiguration = Code("invalid_configuration", 500)

        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension AuthError: Equatable {
    public static func == (lhs: AuthError, rhs: AuthError) -> Bool { lhs.code == rhs.code }
}
