import Auth
import Foundation
import Testing

/// A real JWKS server serving `keys`, a hand-moved clock, and an authenticator that fetches the
/// key set from that server over HTTP, as the worker will in production (over HTTPS).
struct AuthHarness {
    let server: JWKSServer
    let clock: ManualClock
    let authenticator: CallerAuthenticator

    static func with(
        keys: [TestSigningKey],
        apiKeys: (any APIKeyResolver)? = nil,
        environment: [String: String] = [:],
        configure: (inout AuthConfiguration) -> Void = { _ in },
        _ body: (AuthHarness) async throws -> Void
    ) async throws {
        let server = try await JWKSServer.start()
        do {
            server.serve(jwksDocument(keys))
            let clock = ManualClock()
            var configuration = try AuthConfiguration(
                environment: environment.merging(["WALINK_JWKS_URL": server.url]) { mine, _ in mine },
                allowingLoopbackHTTP: true
            )
            configure(&configuration)
            let authenticator = try CallerAuthenticator(configuration: configuration, apiKeys: apiKeys, now: clock.function)
            try await body(AuthHarness(server: server, clock: clock, authenticator: authenticator))
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    /// Claims of a valid login token at the clock's time, with `changes` applied (`NSNull()`
    /// removes a claim).
    func claims(_ changes: [String: Any] = [:]) -> [String: Any] {
        standardClaims(now: clock.seconds, changes)
    }

    func authenticate(_ token: String) async throws(AuthError) -> Principal {
        try await authenticator.authenticate(authorization: "Bearer \(token)")
    }

    /// Expects `token` to be refused with `code`, and the error not to repeat the token.
    func expectRefused(
        _ token: String,
        _ code: AuthError.Code,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        await expectRefusal(authenticator, "Bearer \(token)", code, secret: token, sourceLocation: sourceLocation)
    }
}

func standardClaims(now: Int, _ changes: [String: Any] = [:]) -> [String: Any] {
    var claims: [String: Any] = [
        "sub": "user-1", "org": "org_a", "role": "owner",
        "iat": now, "nbf": now - 5, "exp": now + 300,
    ]
    for (name, value) in changes { claims[name] = value }
    return claims.filter { !($0.value is NSNull) }
}

/// Expects `authorization` to be refused with `code`; the error's text must not contain
/// `secret` (the token) nor any 16-byte stretch of it.
func expectRefusal(
    _ authenticator: CallerAuthenticator,
    _ authorization: String?,
    _ code: AuthError.Code,
    secret: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    do throws(AuthError) {
        let principal = try await authenticator.authenticate(authorization: authorization)
        Issue.record("accepted as \(principal), expected \(code)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, sourceLocation: sourceLocation)
        if let secret, secret.count >= 16 {
            let text = "\(error) \(error.message)"
            let bytes = Array(secret.utf8)
            let leaks = stride(from: 0, through: bytes.count - 16, by: 8).contains { start in
                text.contains(String(decoding: bytes[start..<start + 16], as: UTF8.self))
            }
            #expect(!leaks, "the error repeats part of the token", sourceLocation: sourceLocation)
        }
    }
}
