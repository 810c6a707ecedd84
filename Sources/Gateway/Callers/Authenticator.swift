/// Turns a command's `authorization` header into a caller, or refuses with 401.
public protocol Authenticator: Sendable {
    func authenticate(_ authorization: String?) async throws(GatewayError) -> Caller
}

/// The authenticator of a worker with no credentials configured: every protected command gets 401.
struct NoAuthenticator: Authenticator {
    func authenticate(_ authorization: String?) async throws(GatewayError) -> Caller {
        throw GatewayError(.unauthorized, "no credentials are configured on this worker")
    }
}
