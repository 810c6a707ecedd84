import Auth
import Foundation
import Testing

/// Resolved API keys are trusted for a bounded time only: a revocation reaches every worker
/// within ``AuthConfiguration/apiKeyCacheLifetime``, and a failing store is never papered over.
/// Time is the test's ``ManualClock``; nothing sleeps.
@Suite struct APIKeyCacheTests {
    static let key = "wlk_live_0123456789abcdef0123456789abcdef"
    static let active = ResolvedAPIKey(organization: "org_a", keyID: "key_1", permissions: [Principal.manage], revoked: false)
    static var revoked: ResolvedAPIKey {
        var record = active
        record.revoked = true
        return record
    }

    struct Setup {
        let resolver: FakeAPIKeyResolver
        let clock: ManualClock
        let authenticator: CallerAuthenticator

        init(lifetime: Duration = .seconds(2), capacity: Int = 10_000) throws {
            resolver = FakeAPIKeyResolver([APIKeyCacheTests.key: APIKeyCacheTests.active])
            clock = ManualClock()
            authenticator = try CallerAuthenticator(
                configuration: AuthConfiguration(apiKeyCacheLifetime: lifetime, apiKeyCacheCapacity: capacity), apiKeys: resolver,
                now: clock.function)
        }

        func authenticate(_ key: String = APIKeyCacheTests.key) async throws(AuthError) -> Principal {
            try await authenticator.authenticate(authorization: "Bearer \(key)")
        }
    }

    @Test func aKeyIsLookedUpOncePerLifetime() async throws {
        let setup = try Setup()
        for _ in 0..<5 { #expect(try await setup.authenticate().subject == "key_1") }
        #expect(setup.resolver.lookups == 1)
        setup.clock.advance(by: 1.9)
        _ = try await setup.authenticate()
        #expect(setup.resolver.lookups == 1)
        setup.clock.advance(by: 0.1)  // 2 s after the lookup started: stale
        _ = try await setup.authenticate()
        #expect(setup.resolver.lookups == 2)
    }

    @Test func aRevokedKeyIsRefusedOnceTheLifetimeHasPassed() async throws {
        let setup = try Setup()
        _ = try await setup.authenticate()
        setup.resolver.set(Self.key, to: Self.revoked)
        // Still trusted from the cache within the lifetime...
        setup.clock.advance(by: 1.5)
        _ = try await setup.authenticate()
        // ...and refused after it, well within the 5 s every worker must honour.
        setup.clock.advance(by: 0.5)
        await expectRefusal(setup.authenticator, "Bearer \(Self.key)", .revokedAPIKey, secret: Self.key)
        #expect(setup.resolver.lookups == 2)
        // The revoked record is remembered like any other: refused again without a lookup.
        await expectRefusal(setup.authenticator, "Bearer \(Self.key)", .revokedAPIKey, secret: Self.key)
        #expect(setup.resolver.lookups == 2)
    }

    @Test func aDeletedKeyIsRefusedOnceTheLifetimeHasPassed() async throws {
        let setup = try Setup()
        _ = try await setup.authenticate()
        setup.resolver.set(Self.key, to: nil)
        setup.clock.advance(by: 2)
        await expectRefusal(setup.authenticator, "Bearer \(Self.key)", .unknownAPIKey, secret: Self.key)
        // Unknown keys are not remembered: one created now works at once.
        setup.resolver.set(Self.key, to: Self.active)
        _ = try await setup.authenticate()
    }

    @Test func aFailingStoreIsNeverTurnedIntoAcceptance() async throws {
        let setup = try Setup()
        _ = try await setup.authenticate()
        setup.resolver.goDown()
        // Within the lifetime the store is not asked, so its failure does not show.
        _ = try await setup.authenticate()
        #expect(setup.resolver.lookups == 1)
        // Once stale, the cached answer is not used as a fallback.
        setup.clock.advance(by: 2)
        await expectRefusal(setup.authenticator, "Bearer \(Self.key)", .apiKeyLookupFailed, secret: Self.key)
        await expectRefusal(setup.authenticator, "Bearer \(Self.key)", .apiKeyLookupFailed, secret: Self.key)
        #expect(setup.resolver.lookups == 3)
        // Failures are not remembered either: the store's return is seen at once.
        setup.resolver.comeBack()
        _ = try await setup.authenticate()
        #expect(setup.resolver.lookups == 4)
    }

    @Test func aClockThatWentBackwardsDoesNotExtendTrust() async throws {
        let setup = try Setup()
        _ = try await setup.authenticate()
        setup.clock.advance(by: -60)
        _ = try await setup.authenticate()
        #expect(setup.resolver.lookups == 2)
    }

    @Test func expiryIsCheckedOnEveryCallEvenFromTheCache() async throws {
        let setup = try Setup()
        var expiring = Self.active
        expiring.expiresAt = setup.clock.now.addingTimeInterval(1)
        setup.resolver.set(Self.key, to: expiring)
        _ = try await setup.authenticate()
        setup.clock.advance(by: 1)
        await expectRefusal(setup.authenticator, "Bearer \(Self.key)", .revokedAPIKey, secret: Self.key)
        #expect(setup.resolver.lookups == 1)
    }

    @Test func aZeroLifetimeAsksTheStoreEveryTime() async throws {
        let setup = try Setup(lifetime: .zero)
        for _ in 0..<3 { _ = try await setup.authenticate() }
        #expect(setup.resolver.lookups == 3)
    }

    @Test func theCacheHoldsAtMostItsCapacity() async throws {
        let setup = try Setup(capacity: 2)
        let keys = (0..<3).map { "wlk_live_\(String(repeating: String($0), count: 32))" }
        for (index, key) in keys.enumerated() {
            setup.resolver.set(key, to: ResolvedAPIKey(organization: "org_a", keyID: "key_\(index)", permissions: [], revoked: false))
            _ = try await setup.authenticate(key)
        }
        #expect(setup.resolver.lookups == 3)
        // The third key did not fit beside two fresh ones: the cache started over with it alone.
        _ = try await setup.authenticate(keys[2])
        #expect(setup.resolver.lookups == 3)
        _ = try await setup.authenticate(keys[0])
        #expect(setup.resolver.lookups == 4)
    }

    @Test func lifetimesAboveFiveSecondsAreRefused() {
        #expect(throws: AuthError(.invalidConfiguration, "")) {
            try CallerAuthenticator(configuration: AuthConfiguration(apiKeyCacheLifetime: .seconds(6)), apiKeys: nil)
        }
        #expect(throws: AuthError(.invalidConfiguration, "")) {
            try CallerAuthenticator(configuration: AuthConfiguration(apiKeyCacheLifetime: .seconds(-1)), apiKeys: nil)
        }
        #expect(throws: Never.self) {
            try CallerAuthenticator(configuration: AuthConfiguration(apiKeyCacheLifetime: AuthConfiguration.maxAPIKeyCacheLifetime), apiKeys: nil)
        }
    }
}
