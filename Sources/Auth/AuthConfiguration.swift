import Foundation

/// Every setting of caller authentication. The environment variable of each is named in its doc
/// comment; the settings without one are for tests and tuning.
public struct AuthConfiguration: Sendable {
    /// `WALINK_JWKS_URL`: the frontend's key set (`https://...` or `file:/path`). `nil` (unset or
    /// empty) disables JWT login; API keys still work.
    public var jwksLocation: JWKSLocation?
    /// `WALINK_JWKS_CA_FILE`: a PEM file of extra CAs trusted for an `https://` key set, on top of
    /// the system trust store.
    public var jwksCAFile: String?
    /// `WALINK_JWT_ISSUER`: when set, a token's `iss` must equal it.
    public var issuer: String?
    /// `WALINK_JWT_AUDIENCE`: comma-separated; when not empty, a token's `aud` (a string or an
    /// array) must name at least one of them.
    public var audiences: Set<String>
    /// `WALINK_JWT_ORG_CLAIM` (default `org`): the claim with the caller's organization. A name
    /// that is not a top-level claim is read as a dotted path into nested objects, so
    /// `https://example.com/claims.org` finds `{"https://example.com/claims": {"org": ...}}`.
    public var organizationClaim: String
    /// `WALINK_JWT_ROLE_CLAIM` (default `role`): the claim with the caller's role, a string or an
    /// array of strings; read like ``organizationClaim``. A token without it has no role.
    public var roleClaim: String
    /// `WALINK_JWT_ROLE_CAPABILITIES` (default `owner=manage,admin=manage`): what each role may
    /// do, as `role=capability|capability,role=,...`. Roles not listed have no capabilities; the
    /// variable replaces the whole default.
    public var roleCapabilities: [String: Set<String>]
    /// `WALINK_JWT_LEEWAY` (whole seconds, default 60, at most 600): clock skew tolerated on
    /// `exp`, `nbf` and `iat`.
    public var leeway: Duration

    /// How long a fetched key set is used before it is fetched again.
    public var jwksRefreshInterval: Duration
    /// The shortest time between two fetches of the key set (unknown `kid`s, failed fetches).
    public var jwksMinimumFetchInterval: Duration
    /// How long one fetch of an `https://` key set may take, connection included.
    public var jwksFetchTimeout: Duration
    /// The largest key set document accepted, in bytes.
    public var jwksMaxSize: Int
    /// The longest bearer token accepted, in bytes.
    public var maxTokenLength: Int
    /// How long a resolved API key is trusted without asking the store again (zero: always ask).
    /// A key revoked in the store is refused by every worker within this time, so it may be at
    /// most ``maxAPIKeyCacheLifetime``.
    public var apiKeyCacheLifetime: Duration
    /// How many resolved API keys are remembered at most.
    public var apiKeyCacheCapacity: Int

    /// The longest ``apiKeyCacheLifetime`` accepted: revocations take effect within it.
    public static let maxAPIKeyCacheLifetime: Duration = .seconds(5)

    public static let defaultRoleCapabilities: [String: Set<String>] = [
        "owner": [Principal.manage], "admin": [Principal.manage],
    ]

    public init(
        jwksLocation: JWKSLocation? = nil,
        jwksCAFile: String? = nil,
        issuer: String? = nil,
        audiences: Set<String> = [],
        organizationClaim: String = "org",
        roleClaim: String = "role",
        roleCapabilities: [String: Set<String>] = AuthConfiguration.defaultRoleCapabilities,
        leeway: Duration = .seconds(60),
        jwksRefreshInterval: Duration = .seconds(600),
        jwksMinimumFetchInterval: Duration = .seconds(30),
        jwksFetchTimeout: Duration = .seconds(10),
        jwksMaxSize: Int = 1 << 20,
        maxTokenLength: Int = 8 << 10,
        apiKeyCacheLifetime: Duration = .seconds(2),
        apiKeyCacheCapacity: Int = 10_000
    ) {
        self.jwksLocation = jwksLocation
        self.jwksCAFile = jwksCAFile
        self.issuer = issuer
        self.audiences = audiences
        self.organizationClaim = organizationClaim
        self.roleClaim = roleClaim
        self.roleCapabilities = roleCapabilities
        self.leeway = leeway
        self.jwksRefreshInterval = jwksRefreshInterval
        self.jwksMinimumFetchInterval = jwksMinimumFetchInterval
        self.jwksFetchTimeout = jwksFetchTimeout
        self.jwksMaxSize = jwksMaxSize
        self.maxTokenLength = maxTokenLength
        self.apiKeyCacheLifetime = apiKeyCacheLifetime
        self.apiKeyCacheCapacity = apiKeyCacheCapacity
    }

    /// Reads the `WALINK_JWKS_*` and `WALINK_JWT_*` variables; unset or empty ones keep their
    /// defaults. Throws ``AuthError/Code/invalidConfiguration`` naming the first bad variable.
    /// Plain `http://` key sets (loopback only) are accepted only with `allowingLoopbackHTTP`.
    public init(environment: [String: String], allowingLoopbackHTTP: Bool = false) throws(AuthError) {
        self.init()
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func invalid(_ name: String, _ why: String) -> AuthError {
            AuthError(.invalidConfiguration, "\(name) \(why)")
        }

        if let url = value("WALINK_JWKS_URL") {
            jwksLocation = try JWKSLocation.parse(url, allowingLoopbackHTTP: allowingLoopbackHTTP)
        }
        if let path = value("WALINK_JWKS_CA_FILE") {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw invalid("WALINK_JWKS_CA_FILE", "names a file that cannot be read")
            }
            jwksCAFile = path
        }
        issuer = value("WALINK_JWT_ISSUER")
        if let list = value("WALINK_JWT_AUDIENCE") {
            audiences = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        for (name, keyPath) in [("WALINK_JWT_ORG_CLAIM", \AuthConfiguration.organizationClaim), ("WALINK_JWT_ROLE_CLAIM", \.roleClaim)] {
            guard let claim = value(name) else { continue }
            guard claim.utf8.count <= 256, !claim.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw invalid(name, "must be a claim name of at most 256 printable characters")
            }
            self[keyPath: keyPath] = claim
        }
        if let mapping = value("WALINK_JWT_ROLE_CAPABILITIES") {
            roleCapabilities = try Self.parseRoleCapabilities(mapping)
        }
        if let text = value("WALINK_JWT_LEEWAY") {
            guard let seconds = Int(text), (0...600).contains(seconds) else {
                throw invalid("WALINK_JWT_LEEWAY", "must be whole seconds from 0 to 600")
            }
            leeway = .seconds(seconds)
        }
    }

    /// `owner=manage|billing,admin=manage,viewer=` → roles and their capabilities.
    static func parseRoleCapabilities(_ text: String) throws(AuthError) -> [String: Set<String>] {
        func invalid() -> AuthError {
            AuthError(
                .invalidConfiguration,
                "WALINK_JWT_ROLE_CAPABILITIES must look like owner=manage,admin=manage|other,viewer="
            )
        }
        func isName(_ text: String) -> Bool {
            !text.isEmpty && !text.contains(where: { $0.isWhitespace || "=|,".contains($0) })
        }
        var mapping: [String: Set<String>] = [:]
        for entry in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw invalid() }
            let role = parts[0].trimmingCharacters(in: .whitespaces)
            let list = parts[1].trimmingCharacters(in: .whitespaces)
            let capabilities =
                list.isEmpty
                ? [] : list.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard isName(role), mapping[role] == nil, capabilities.allSatisfy(isName) else { throw invalid() }
            mapping[role] = Set(capabilities)
        }
        return mapping
    }
}
