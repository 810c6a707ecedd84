import Foundation
import JSON

/// Verifies a login JWT (a JWS in compact serialization, RFC 7515/7519) against the frontend's
/// key set and turns its claims into a ``Principal``.
///
/// Order matters: the header is read to choose the algorithm and key, the signature is checked,
/// and only then are the claims parsed and judged. Header members that would let the token
/// choose its own key (`jwk`, `jku`, `x5u`, `x5c`) are ignored; `crit` is refused because we
/// implement no extensions.
struct JWTVerifier: Sendable {
    let configuration: AuthConfiguration
    let keys: JWKSCache
    let now: @Sendable () -> Date

    /// Claims and headers nest this deep at most.
    private static let maxJSONDepth = 16

    func verify(_ token: String) async throws(AuthError) -> Principal {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw AuthError(.malformedToken, "the token is not a signed JWT (header.payload.signature)")
        }
        guard let headerBytes = Base64URL.decode(bytes: parts[0]),
            let payloadBytes = Base64URL.decode(bytes: parts[1]),
            let signature = Base64URL.decode(bytes: parts[2])
        else { throw AuthError(.malformedToken, "the token is not base64url") }

        let header = try Self.object(headerBytes, "header")
        guard let algorithmName = header["alg"]?.stringValue else {
            throw AuthError(.malformedToken, "the token header has no alg")
        }
        guard let algorithm = JWTAlgorithm(headerValue: algorithmName) else {
            throw AuthError(.algorithmNotAllowed, "the token's algorithm is not allowed (RS256, ES256 or EdDSA only)")
        }
        guard header["crit"] == nil, header["enc"] == nil else {
            throw AuthError(.malformedToken, "the token header uses extensions this worker does not support")
        }
        guard !signature.isEmpty else {
            throw AuthError(.invalidSignature, "the token is not signed")
        }
        var keyID: String?
        if let member = header["kid"] {
            guard let text = member.stringValue else { throw AuthError(.malformedToken, "the token's kid is not a string") }
            keyID = text
        }

        let key = try await key(keyID: keyID, algorithm: algorithm)
        let signingInput = Array(token.utf8.prefix(parts[0].count + 1 + parts[1].count))
        guard key.isValidSignature(signature, for: signingInput, algorithm: algorithm) else {
            throw AuthError(.invalidSignature, "the token's signature does not verify")
        }

        let claims = try Self.object(payloadBytes, "claims")
        try checkTimes(claims)
        try checkIssuerAndAudience(claims)
        return try principal(claims)
    }

    private func key(keyID: String?, algorithm: JWTAlgorithm) async throws(AuthError) -> JSONWebKey {
        guard var set = await keys.current() else {
            throw AuthError(.keysUnavailable, "the login key set could not be loaded; try again later")
        }
        var selection = set.select(keyID: keyID, algorithm: algorithm)
        if case .unknownKeyID = selection, let renewed = await keys.refetch() {
            set = renewed
            selection = set.select(keyID: keyID, algorithm: algorithm)
        }
        switch selection {
        case .key(let key):
            return key
        case .unknownKeyID:
            throw AuthError(.unknownKey, "the token was signed with a key this worker does not know")
        case .missingKeyID:
            throw AuthError(.missingKeyID, "the token names no key (kid) and the key set has several")
        case .mismatch:
            throw AuthError(.keyMismatch, "the token's algorithm does not match its key")
        }
    }

    private func checkTimes(_ claims: JSONObject) throws(AuthError) {
        let now = self.now().timeIntervalSince1970
        let leeway = configuration.leeway.timeInterval
        guard let expiry = claims["exp"]?.numberValue else {
            throw AuthError(.invalidClaims, "the token has no numeric exp claim")
        }
        guard now < expiry + leeway else { throw AuthError(.expired, "the token has expired") }
        if let member = claims["nbf"] {
            guard let notBefore = member.numberValue else { throw AuthError(.invalidClaims, "the token's nbf is not a number") }
            guard notBefore <= now + leeway else { throw AuthError(.notYetValid, "the token is not valid yet") }
        }
        if let member = claims["iat"] {
            guard let issuedAt = member.numberValue else { throw AuthError(.invalidClaims, "the token's iat is not a number") }
            guard issuedAt <= now + leeway else {
                throw AuthError(.issuedInFuture, "the token claims to be issued in the future")
            }
        }
    }

    private func checkIssuerAndAudience(_ claims: JSONObject) throws(AuthError) {
        if let issuer = configuration.issuer, claims["iss"]?.stringValue != issuer {
            throw AuthError(.invalidIssuer, "the token was not issued by the configured issuer")
        }
        if !configuration.audiences.isEmpty {
            let audiences: [String]
            switch claims["aud"] {
            case .string(let audience): audiences = [audience]
            case .array(let list): audiences = list.compactMap(\.stringValue)
            default: audiences = []
            }
            guard audiences.contains(where: configuration.audiences.contains) else {
                throw AuthError(.invalidAudience, "the token is not meant for this service (aud)")
            }
        }
    }

    private func principal(_ claims: JSONObject) throws(AuthError) -> Principal {
        guard let subject = claims["sub"]?.stringValue, Self.isPrintable(subject, maxLength: 256) else {
            throw AuthError(.invalidClaims, "the token has no usable sub claim")
        }
        guard let organization = ClaimPath.value(configuration.organizationClaim, in: claims)?.stringValue,
            Self.isOrganizationID(organization)
        else {
            throw AuthError(.invalidClaims, "the token has no usable organization claim")
        }
        let roles: [String]
        switch ClaimPath.value(configuration.roleClaim, in: claims) {
        case nil, .null?:
            roles = []
        case .string(let role)?:
            roles = [role]
        case .array(let list)?:
            let names = list.compactMap(\.stringValue)
            guard names.count == list.count else {
                throw AuthError(.invalidClaims, "the token's role claim is not a string or a list of strings")
            }
            roles = names
        default:
            throw AuthError(.invalidClaims, "the token's role claim is not a string or a list of strings")
        }
        let capabilities = roles.reduce(into: Set<String>()) { $0.formUnion(configuration.roleCapabilities[$1] ?? []) }
        return Principal(organization: organization, subject: subject, capabilities: capabilities, kind: .jwt)
    }

    private static func object(_ bytes: [UInt8], _ part: String) throws(AuthError) -> JSONObject {
        guard let json = try? JSONParser.parse(bytes, maxDepth: maxJSONDepth), let object = json.objectValue else {
            throw AuthError(.malformedToken, "the token \(part) is not a JSON object")
        }
        return object
    }

    private static func isPrintable(_ text: String, maxLength: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maxLength
            && !text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// Organization ids end up in AMQP routing keys (`<org>.<session>.<event>`), where `.`, `*`
    /// and `#` have meaning; only letters, digits, `_` and `-` are accepted.
    static func isOrganizationID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default:
                    false
                }
            }
    }
}
