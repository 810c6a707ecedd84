import Foundation
import NIOHTTP1
import Testing

@testable import Auth

/// The key set: fetched from a real server (HTTP and HTTPS) or a file, cached, refetched for
/// unknown `kid`s at most once per interval, refreshed when stale, kept when a refresh fails.
@Suite struct JWKSFetchTests {
    @Test func unknownKeyIsAcceptedAfterOneRefetch() async throws {
        let old = TestSigningKey.p256("ec-1")
        let new = TestSigningKey.ed25519("ed-2")
        try await AuthHarness.with(keys: [old]) { harness in
            _ = try await harness.authenticate(old.token(claims: harness.claims()))
            #expect(harness.server.requestCount == 1)
            _ = try await harness.authenticate(old.token(claims: harness.claims()))
            #expect(harness.server.requestCount == 1)  // cached

            harness.server.serve(jwksDocument([old, new]))  // the frontend rotates
            harness.clock.advance(by: 30)
            _ = try await harness.authenticate(new.token(claims: harness.claims()))
            #expect(harness.server.requestCount == 2)
            _ = try await harness.authenticate(new.token(claims: harness.claims()))
            _ = try await harness.authenticate(old.token(claims: harness.claims()))
            #expect(harness.server.requestCount == 2)
            #expect(harness.server.requestedPaths.allSatisfy { $0 == "/.well-known/jwks.json" })
        }
    }

    @Test func refetchesForUnknownKeysAreRateLimited() async throws {
        let known = TestSigningKey.p256("ec-1")
        let late = TestSigningKey.ed25519("ed-late")
        try await AuthHarness.with(keys: [known]) { harness in
            let token = late.token(claims: harness.claims(["exp": harness.clock.seconds + 3600]))
            await harness.expectRefused(token, .unknownKey)
            #expect(harness.server.requestCount == 1)  // the key set was fetched just now for this token

            _ = try await harness.authenticate(known.token(claims: harness.claims()))
            harness.clock.advance(by: 30)
            await harness.expectRefused(token, .unknownKey)
            #expect(harness.server.requestCount == 2)  // one refetch

            // Still unknown, and made-up kids in a burst: no more fetches.
            for index in 0..<20 {
                await harness.expectRefused(TestSigningKey.p256("made-up-\(index)").token(claims: harness.claims()), .unknownKey)
            }
            #expect(harness.server.requestCount == 2)

            // The key appears, but within the interval we do not look.
            harness.server.serve(jwksDocument([known, late]))
            harness.clock.advance(by: 29)
            await harness.expectRefused(token, .unknownKey)
            #expect(harness.server.requestCount == 2)

            // After the interval, one refetch finds it.
            harness.clock.advance(by: 2)
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 3)
            await harness.expectRefused(TestSigningKey.p256("other").token(claims: harness.claims()), .unknownKey)
            #expect(harness.server.requestCount == 3)
        }
    }

    @Test func concurrentMissesShareOneFetch() async throws {
        let old = TestSigningKey.p256("ec-1")
        let new = TestSigningKey.ed25519("ed-2")
        try await AuthHarness.with(keys: [old]) { harness in
            _ = try await harness.authenticate(old.token(claims: harness.claims()))
            #expect(harness.server.requestCount == 1)

            harness.server.serve(jwksDocument([old, new]))
            harness.clock.advance(by: 30)
            harness.server.hold()
            let token = new.token(claims: harness.claims())
            let callers = 12
            try await withThrowingTaskGroup(of: Principal.self) { group in
                for _ in 0..<callers {
                    group.addTask { try await harness.authenticate(token) }
                }
                // The first miss fetches; the server holds its answer until every caller has asked.
                try await waitUntil { harness.server.requestCount == 2 }
                try await waitUntil { harness.authenticator.keyFetchWaiters == callers - 1 }
                harness.server.release()
                var accepted = 0
                for try await principal in group {
                    #expect(principal.subject == "user-1")
                    accepted += 1
                }
                #expect(accepted == callers)
            }
            #expect(harness.server.requestCount == 2)
        }
    }

    @Test func staleKeysAreRefreshedAndKeptWhenTheRefreshFails() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key]) { harness in
            let token = key.token(claims: harness.claims(["exp": harness.clock.seconds + 7200]))
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 1)

            harness.clock.advance(by: 599)
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 1)

            // Stale: the next login fetches again.
            harness.clock.advance(by: 2)
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 2)

            // The frontend fails: the keys we have keep working, retried at most every 30 s.
            harness.clock.advance(by: 601)
            harness.server.answer(.init(status: .internalServerError, body: Array("oops".utf8)))
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 3)
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 3)
            harness.server.serve("{\"not\": \"a key set\"}")
            harness.clock.advance(by: 31)
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 4)

            // A rotation that drops the key takes effect at the next successful refresh.
            harness.server.serve(jwksDocument([.ed25519("ed-9")]))
            harness.clock.advance(by: 31)
            await harness.expectRefused(token, .unknownKey)
            #expect(harness.server.requestCount == 5)
        }
    }

    @Test func noKeysAtAllIsUnavailableNotUnauthorized() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key]) { harness in
            harness.server.answer(.init(status: .notFound))
            let token = key.token(claims: harness.claims())
            await harness.expectRefused(token, .keysUnavailable)
            #expect(AuthError.Code.keysUnavailable.status == 503)
            #expect(harness.server.requestCount == 1)
            // Retried after the interval, and then it works.
            harness.server.serve(jwksDocument([key]))
            await harness.expectRefused(token, .keysUnavailable)
            #expect(harness.server.requestCount == 1)
            harness.clock.advance(by: 30)
            #expect(await harness.authenticator.loadKeys())
            _ = try await harness.authenticate(token)
            #expect(harness.server.requestCount == 2)
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key]) { harness in
            harness.server.answer(.init(status: .found, headers: [("Location", "/elsewhere.json")]))
            await harness.expectRefused(key.token(claims: harness.claims()), .keysUnavailable)
            #expect(harness.server.requestedPaths == ["/.well-known/jwks.json"])
        }
    }

    @Test func oversizedKeySetIsRefused() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key], configure: { $0.jwksMaxSize = 512 }) { harness in
            harness.server.serve(jwksDocument([key, .p256("a"), .p256("b"), .p256("c")]))
            await harness.expectRefused(key.token(claims: harness.claims()), .keysUnavailable)
            harness.clock.advance(by: 30)
            harness.server.serve(jwksDocument([key]))
            _ = try await harness.authenticate(key.token(claims: harness.claims()))
        }
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key], configure: { $0.jwksFetchTimeout = .seconds(1) }) { harness in
            harness.server.hold()
            let started = ContinuousClock.now
            await harness.expectRefused(key.token(claims: harness.claims()), .keysUnavailable)
            // The server holds forever: returning at all shows the fetch timeout works.
            #expect(ContinuousClock.now - started < .seconds(60))
            // One attempt, not retried (on a busy machine the timeout may even end it before the
            // request reached the server, so none is as right as one).
            #expect(harness.server.requestCount <= 1)
        }
    }

    @Test func unreachableServerIsUnavailable() async throws {
        let server = try await JWKSServer.start()
        let url = server.url
        try await server.shutdown()  // nothing listens on that port any more
        let configuration = try AuthConfiguration(environment: ["WALINK_JWKS_URL": url], allowingLoopbackHTTP: true)
        let authenticator = try CallerAuthenticator(configuration: configuration, apiKeys: nil)
        let token = TestSigningKey.p256("ec-1").token(claims: standardClaims(now: Int(Date().timeIntervalSince1970)))
        await expectRefusal(authenticator, "Bearer \(token)", .keysUnavailable, secret: token)
    }

    @Test func keySetFromAFile() async throws {
        let first = TestSigningKey.rsa
        let second = TestSigningKey.ed25519("ed-2")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("walink-jwks-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: url) }
        for spelling in ["file:\(url.path)", "file://\(url.path)"] {
            try jwksDocument([first]).write(to: url, atomically: true, encoding: .utf8)
            let clock = ManualClock()
            let configuration = try AuthConfiguration(environment: ["WALINK_JWKS_URL": spelling])
            #expect(configuration.jwksLocation == .file(path: url.path))
            let authenticator = try CallerAuthenticator(configuration: configuration, apiKeys: nil, now: clock.function)
            let principal = try await authenticator.authenticate(
                authorization: "Bearer " + first.token(claims: standardClaims(now: clock.seconds))
            )
            #expect(principal.capabilities == [Principal.manage])

            // Rotation through the file: an unknown kid reads it again.
            clock.advance(by: 30)
            let rotated = second.token(claims: standardClaims(now: clock.seconds))
            await expectRefusal(authenticator, "Bearer \(rotated)", .unknownKey)
            try jwksDocument([first, second]).write(to: url, atomically: true, encoding: .utf8)
            clock.advance(by: 30)
            _ = try await authenticator.authenticate(authorization: "Bearer \(rotated)")
        }

        let missing = try CallerAuthenticator(
            configuration: AuthConfiguration(environment: ["WALINK_JWKS_URL": "file:/nonexistent/walink-\(UUID().uuidString).json"]),
            apiKeys: nil
        )
        await expectRefusal(missing, "Bearer " + first.token(claims: standardClaims(now: Int(Date().timeIntervalSince1970))), .keysUnavailable)
    }

    @Test func keySetOverHTTPSTrustingATestCA() async throws {
        let authority = TestCertificateAuthority()
        let caFile = try authority.writeCAFile()
        defer { try? FileManager.default.removeItem(atPath: caFile) }
        let server = try await JWKSServer.start(tls: try authority.serverContext())
        let key = TestSigningKey.p256("ec-1")
        server.serve(jwksDocument([key]))
        do {
            #expect(server.url.hasPrefix("https://127.0.0.1:"))
            let clock = ManualClock()
            let token = key.token(claims: standardClaims(now: clock.seconds))

            let trusting = try CallerAuthenticator(
                configuration: AuthConfiguration(environment: ["WALINK_JWKS_URL": server.url, "WALINK_JWKS_CA_FILE": caFile]),
                apiKeys: nil,
                now: clock.function
            )
            let principal = try await trusting.authenticate(authorization: "Bearer \(token)")
            #expect(principal.organization == "org_a")
            #expect(server.requestCount == 1)

            // Without the test CA the server's certificate is not trusted: no keys.
            let untrusting = try CallerAuthenticator(
                configuration: AuthConfiguration(environment: ["WALINK_JWKS_URL": server.url]),
                apiKeys: nil,
                now: clock.function
            )
            await expectRefusal(untrusting, "Bearer \(token)", .keysUnavailable)

            // Another CA's certificate does not vouch for this server either.
            let otherFile = try TestCertificateAuthority(commonName: "walink test CA").writeCAFile()
            defer { try? FileManager.default.removeItem(atPath: otherFile) }
            let wrongCA = try CallerAuthenticator(
                configuration: AuthConfiguration(environment: ["WALINK_JWKS_URL": server.url, "WALINK_JWKS_CA_FILE": otherFile]),
                apiKeys: nil,
                now: clock.function
            )
            await expectRefusal(wrongCA, "Bearer \(token)", .keysUnavailable)
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    @Test func aCAFileThatIsNotPEMIsAConfigurationError() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("walink-bad-ca-\(UUID().uuidString).pem")
        defer { try? FileManager.default.removeItem(at: url) }
        try "not a certificate".write(to: url, atomically: true, encoding: .utf8)
        let configuration = try AuthConfiguration(
            environment: ["WALINK_JWKS_URL": "https://auth.example.com/jwks.json", "WALINK_JWKS_CA_FILE": url.path]
        )
        #expect(throws: AuthError(.invalidConfiguration, "")) {
            try CallerAuthenticator(configuration: configuration, apiKeys: nil)
        }
    }
}

/// Polls `condition` until it holds (or fails the test after 10 s). For states the code under
/// test reaches on its own, like callers parked on a fetch.
func waitUntil(
    _ condition: () async -> Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !(await condition()) {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not reached in 10 s", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}
