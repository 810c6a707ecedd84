import Auth
import Store

/// The worker's authenticator: login JWTs through ``CallerAuthenticator`` (JWKS), API keys through
/// the store. Maps the auth layer's specific errors onto the API's 401 (and 503 when the key set
/// or the store cannot be reached), keeping the specific reason in `details.reason`.
public struct GatewayAuthenticator: Authenticator {
    let callers: CallerAuthenticator

    public init(callers: CallerAuthenticator) {
        self.callers = callers
    }

    public func authenticate(_ authorization: String?) async throws(GatewayError) -> Caller {
        do {
            let principal = try await callers.authenticate(authorization: authorization)
            return Caller(
                organization: principal.organization, subject: principal.subject,
                capabilities: Set(principal.capabilities.map { Capability($0) }))
        } catch {
            let code: GatewayError.Code =
                switch error.code.status {
                case 401: .unauthorized
                case 503: .unavailable
                default: .internalError
                }
            throw GatewayError(code, error.message, details: ["reason": .string(error.code.name)])
        }
    }
}

/// Resolves `wlk_` API keys against the store (which keeps only their hashes).
public struct StoreAPIKeyResolver: APIKeyResolver {
    let store: any APIKeyStore

    public init(store: any APIKeyStore) {
        self.store = store
    }

    public func resolve(_ key: String) async throws -> ResolvedAPIKey? {
        guard let record = try await store.lookupAPIKey(key) else { return nil }
        return ResolvedAPIKey(organization: record.organization, keyID: record.id, permissions: record.permissions, revoked: record.isRevoked)
    }
}
