import Auth
import Testing

/// The `authorization` header must be `Bearer <token>`; everything else is a specific 401.
@Suite struct AuthorizationHeaderTests {
    let authenticator: CallerAuthenticator
    let resolver = FakeAPIKeyResolver([
        "wlk_k1": ResolvedAPIKey(organization: "org_a", keyID: "key_1", permissions: ["manage"], revoked: false)
    ])

    init() throws {
        authenticator = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: resolver)
    }

    @Test func theSchemeIsCaseInsensitiveAndSpacesAroundAreIgnored() async throws {
        for header in ["Bearer wlk_k1", "bearer wlk_k1", "BEARER wlk_k1", "BeArEr   wlk_k1", "  Bearer wlk_k1 \t", "Bearer\twlk_k1"] {
            #expect(try await authenticator.authenticate(authorization: header).subject == "key_1", "\(header)")
        }
    }

    @Test func missingOrEmptyHeadersAreMissingCredentials() async {
        await expectRefusal(authenticator, nil, .missingCredentials)
        await expectRefusal(authenticator, "", .missingCredentials)
        await expectRefusal(authenticator, "   \t ", .missingCredentials)
    }

    @Test func otherShapesAreMalformed() async {
        for header in [
            "Bearer", "Bearer ", "Bearer    ", "wlk_k1", "Basic d2xrX2sxOg==", "Token wlk_k1", "Bearerwlk_k1",
            "Bearer wlk_k1 extra", "Bearer wlk_k1,other", "Bearer wlk\u{0}k1", "Bearer wlk_k1\r\nX-Evil: 1",
            "Bearer wlk_ké", "Bearer =", "Bearer ==abc", "Bearer \"wlk_k1\"", "Bearer wlk_k1;",
        ] {
            await expectRefusal(authenticator, header, .malformedAuthorization)
        }
        #expect(resolver.lookups == 0)
    }

    @Test func tokensOverTheCapAreRefusedEarly() async throws {
        let limit = AuthConfiguration().maxTokenLength
        #expect(limit == 8192)
        let atLimit = "wlk_" + String(repeating: "a", count: limit - 4)
        await expectRefusal(authenticator, "Bearer \(atLimit)", .unknownAPIKey, secret: atLimit)
        let overLimit = atLimit + "a"
        await expectRefusal(authenticator, "Bearer \(overLimit)", .tokenTooLarge, secret: overLimit)
        let huge = String(repeating: "A", count: 4 << 20)
        await expectRefusal(authenticator, "Bearer \(huge)", .tokenTooLarge, secret: huge)
        await expectRefusal(authenticator, huge, .tokenTooLarge)
        #expect(resolver.lookups == 1)
    }

    @Test func errorsHaveStableNamesAndStatuses() {
        let codes: [AuthError.Code] = [
            .missingCredentials, .malformedAuthorization, .tokenTooLarge, .malformedToken, .algorithmNotAllowed,
            .missingKeyID, .unknownKey, .keyMismatch, .invalidSignature, .expired, .notYetValid, .issuedInFuture,
            .invalidIssuer, .invalidAudience, .invalidClaims, .jwtDisabled, .apiKeysDisabled, .unknownAPIKey,
            .revokedAPIKey,
        ]
        #expect(Set(codes.map(\.name)).count == codes.count)
        #expect(codes.allSatisfy { $0.status == 401 })
        #expect(AuthError.Code.expired.name == "token_expired")
        #expect(AuthError.Code.invalidConfiguration.status == 500)
        #expect(AuthError(.expired, "a") == AuthError(.expired, "b"))
        #expect("\(AuthError(.expired, "the token has expired"))" == "token_expired: the token has expired")
    }
}
