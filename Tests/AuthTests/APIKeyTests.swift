import Auth
import Foundation
import Testing

/// `wlk_` tokens go to the API key resolver, never to JWT verification.
@Suite struct APIKeyTests {
    static let valid = "wlk_live_4f2a9c0d8e7b6a5f4e3d2c1b0a9f8e7d"
    static let revoked = "wlk_live_revoked000000000000000000000000"
    static let expired = "wlk_live_expired000000000000000000000000"
    static let readOnly = "wlk_live_readonly00000000000000000000000"

    static func resolver() -> FakeAPIKeyResolver {
        FakeAPIKeyResolver([
            valid: ResolvedAPIKey(organization: "org_a", keyID: "key_1", permissions: [Principal.manage], revoked: false),
            revoked: ResolvedAPIKey(organization: "org_a", keyID: "key_2", permissions: [Principal.manage], revoked: true),
            expired: ResolvedAPIKey(
                organization: "org_a", keyID: "key_3", permissions: [Principal.manage], revoked: false,
                expiresAt: Date(timeIntervalSinceNow: -1)
            ),
            readOnly: ResolvedAPIKey(organization: "org_b", keyID: "key_4", permissions: [], revoked: false),
        ])
    }

    @Test func validKeysBecomePrincipals() async throws {
        let resolver = Self.resolver()
        let authenticator = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: resolver)
        let principal = try await authenticator.authenticate(authorization: "Bearer \(Self.valid)")
        #expect(principal == Principal(organization: "org_a", subject: "key_1", capabilities: [Principal.manage], kind: .apiKey))
        let limited = try await authenticator.authenticate(authorization: "bearer \(Self.readOnly)")
        #expect(limited.organization == "org_b")
        #expect(limited.capabilities.isEmpty)
        #expect(resolver.lookups == 2)
    }

    @Test func revokedExpiredAndUnknownKeysAreRefused() async throws {
        let authenticator = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: Self.resolver())
        await expectRefusal(authenticator, "Bearer \(Self.revoked)", .revokedAPIKey, secret: Self.revoked)
        await expectRefusal(authenticator, "Bearer \(Self.expired)", .revokedAPIKey, secret: Self.expired)
        let unknown = "wlk_live_ffffffffffffffffffffffffffffffff"
        await expectRefusal(authenticator, "Bearer \(unknown)", .unknownAPIKey, secret: unknown)
        // Only the exact key: no prefix or case games.
        await expectRefusal(authenticator, "Bearer \(Self.valid.uppercased().replacingOccurrences(of: "WLK_", with: "wlk_"))", .unknownAPIKey)
        await expectRefusal(authenticator, "Bearer \(Self.valid.dropLast())", .unknownAPIKey)
    }

    @Test func keysWorkAlongsideJWTsAndNeverReachTheKeySet() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        let resolver = Self.resolver()
        try await AuthHarness.with(keys: [key], apiKeys: resolver) { harness in
            let viaKey = try await harness.authenticate(Self.valid)
            #expect(viaKey.kind == .apiKey)
            #expect(harness.server.requestCount == 0)
            let viaJWT = try await harness.authenticate(key.token(claims: harness.claims()))
            #expect(viaJWT.kind == .jwt)
            #expect(resolver.lookups == 1)
            // A JWT is never looked up as an API key, even when the key set refuses it.
            await harness.expectRefused(TestSigningKey.ed25519("x").token(claims: harness.claims()), .unknownKey)
            #expect(resolver.lookups == 1)
        }
    }

    @Test func aFailingStoreIsUnavailableAndDoesNotLeakTheKey() async throws {
        let resolver = Self.resolver()
        resolver.goDown()
        let authenticator = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: resolver)
        await expectRefusal(authenticator, "Bearer \(Self.valid)", .apiKeyLookupFailed, secret: Self.valid)
        #expect(AuthError.Code.apiKeyLookupFailed.status == 503)
    }

    @Test func withoutAResolverKeysAreRefused() async throws {
        let authenticator = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: nil)
        await expectRefusal(authenticator, "Bearer \(Self.valid)", .apiKeysDisabled, secret: Self.valid)
    }
}
