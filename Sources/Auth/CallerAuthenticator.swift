import Foundation
import Logging
import NIOCore
import NIOPosix

/// Turns a command's `authorization` header into the ``Principal`` behind it, or an
/// ``AuthError`` that says why not.
///
/// A token starting with `wlk_` is an API key, looked up with the ``APIKeyResolver`` (and trusted
/// for ``AuthConfiguration/apiKeyCacheLifetime`` after that, so a busy caller does not cost a store
/// lookup per command); anything else is a login JWT, verified against the frontend's key set
/// (``AuthConfiguration/jwksLocation``). Tokens are never logged, and no error message contains one.
public final class CallerAuthenticator: Sendable {
    /// The prefix that marks API keys.
    public static let apiKeyPrefix = "wlk_"

    private let configuration: AuthConfiguration
    private let jwt: JWTVerifier?
    private let apiKeys: (any APIKeyResolver)?
    private let apiKeyCache: APIKeyCache
    private let now: @Sendable () -> Date
    private let logger: Logger

    /// - Parameters:
    ///   - apiKeys: resolves `wlk_` keys; `nil` refuses every API key.
    ///   - eventLoopGroup: runs `https://` key set fetches.
    ///   - now: the clock for token times and key set ages (tests move it).
    /// - Throws: ``AuthError/Code/invalidConfiguration`` when the extra CA file cannot be loaded, or
    ///   the API key cache lifetime is negative or above ``AuthConfiguration/maxAPIKeyCacheLifetime``.
    public init(
        configuration: AuthConfiguration,
        apiKeys: (any APIKeyResolver)?,
        logger: Logger = Logger(label: "walink.auth"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(AuthError) {
        guard configuration.apiKeyCacheLifetime >= .zero, configuration.apiKeyCacheLifetime <= AuthConfiguration.maxAPIKeyCacheLifetime else {
            throw AuthError(.invalidConfiguration, "the API key cache lifetime must be from 0 to \(AuthConfiguration.maxAPIKeyCacheLifetime)")
        }
        self.configuration = configuration
        self.apiKeys = apiKeys
        self.apiKeyCache = APIKeyCache(lifetime: configuration.apiKeyCacheLifetime, capacity: configuration.apiKeyCacheCapacity)
        self.now = now
        self.logger = logger

        let fetcher: (any JWKSFetching)?
        switch configuration.jwksLocation {
        case nil:
            fetcher = nil
        case .file(let path)?:
            fetcher = FileJWKSFetcher(path: path, maxSize: configuration.jwksMaxSize)
        case .http(let endpoint)?:
            fetcher = try HTTPJWKSFetcher(
                endpoint: endpoint,
                caFile: configuration.jwksCAFile,
                group: eventLoopGroup,
                timeout: configuration.jwksFetchTimeout,
                maxSize: configuration.jwksMaxSize
            )
        }
        jwt = fetcher.map { fetcher in
            var keyLogger = logger
            keyLogger[metadataKey: "jwks"] = "\(configuration.jwksLocation!)"
            let cache = JWKSCache(
                fetcher: fetcher,
                refreshInterval: configuration.jwksRefreshInterval,
                minimumFetchInterval: configuration.jwksMinimumFetchInterval,
                now: now,
                logger: keyLogger
            )
            return JWTVerifier(configuration: configuration, keys: cache, now: now)
        }
    }

    /// Whether login JWTs are accepted (a key set is configured).
    public var acceptsJWTs: Bool { jwt != nil }

    /// Authenticates the raw value of the `authorization` header (`nil` when there is none).
    public func authenticate(authorization: String?) async throws(AuthError) -> Principal {
        do throws(AuthError) {
            let token = try BearerToken.extract(from: authorization, maxLength: configuration.maxTokenLength)
            if token.hasPrefix(Self.apiKeyPrefix) {
                return try await resolveAPIKey(token)
            }
            guard let jwt else {
                throw AuthError(.jwtDisabled, "login tokens are not accepted by this worker; use an API key")
            }
            return try await jwt.verify(token)
        } catch {
            logger.debug("caller refused", metadata: ["reason": "\(error.code)"])
            throw error
        }
    }

    /// Loads the key set now, so the first login does not wait for it. Returns whether keys are
    /// available; a failure is logged and retried when a token needs the keys.
    @discardableResult
    public func loadKeys() async -> Bool {
        guard let jwt else { return false }
        return await jwt.keys.current() != nil
    }

    /// Callers waiting for a key set fetch that another caller started (for tests).
    var keyFetchWaiters: Int { jwt?.keys.waiterCount ?? 0 }

    private func resolveAPIKey(_ key: String) async throws(AuthError) -> Principal {
        guard let apiKeys else {
            throw AuthError(.apiKeysDisabled, "API keys are not accepted by this worker")
        }
        let digest = APIKeyCache.digest(key)
        let lookupStarted = now()
        let resolved: ResolvedAPIKey
        if let cached = apiKeyCache.fresh(digest, now: lookupStarted) {
            resolved = cached
        } else {
            let found: ResolvedAPIKey?
            do {
                found = try await apiKeys.resolve(key)
            } catch {
                apiKeyCache.remove(digest)
                logger.warning("API key lookup failed", metadata: ["error": "\(error)"])
                throw AuthError(.apiKeyLookupFailed, "API keys cannot be checked right now; try again later")
            }
            guard let found else {
                apiKeyCache.remove(digest)
                throw AuthError(.unknownAPIKey, "the API key is not known")
            }
            // Trusted from when the lookup started: the store may have changed since.
            apiKeyCache.insert(found, for: digest, resolvedAt: lookupStarted)
            resolved = found
        }
        if resolved.revoked {
            throw AuthError(.revokedAPIKey, "the API key has been revoked")
        }
        if let expiresAt = resolved.expiresAt, expiresAt <= now() {
            throw AuthError(.revokedAPIKey, "the API key has expired")
        }
        return Principal(
            organization: resolved.organization,
            subject: resolved.keyID,
            capabilities: resolved.permissions,
            kind: .apiKey
        )
    }
}
