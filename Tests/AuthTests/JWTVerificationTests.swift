import Auth
import Crypto
import Foundation
import Testing
import _CryptoExtras

/// Login JWTs signed with real keys, checked against a key set served over HTTP.
@Suite struct JWTVerificationTests {
    static let keys: [String: TestSigningKey] = [
        "RS256": .rsa, "ES256": .p256("ec-1"), "EdDSA": .ed25519("ed-1"),
    ]

    @Test(arguments: ["RS256", "ES256", "EdDSA"])
    func acceptsEveryAllowedAlgorithm(_ algorithm: String) async throws {
        let key = Self.keys[algorithm]!
        try await AuthHarness.with(keys: Array(Self.keys.values)) { harness in
            let principal = try await harness.authenticate(key.token(claims: harness.claims()))
            #expect(principal == Principal(organization: "org_a", subject: "user-1", capabilities: [Principal.manage], kind: .jwt))
        }
    }

    @Test func acceptsTheFullySpecifiedEd25519Name() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            let token = key.token(claims: harness.claims(), header: ["alg": "Ed25519"])
            let principal = try await harness.authenticate(token)
            #expect(principal.subject == "user-1")
        }
    }

    @Test func expiryAndNotBeforeHonourTheLeeway() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key]) { harness in
            let now = harness.clock.seconds
            // Within the default 60 s leeway: accepted.
            _ = try await harness.authenticate(key.token(claims: harness.claims(["exp": now - 50])))
            _ = try await harness.authenticate(key.token(claims: harness.claims(["nbf": now + 50, "iat": now + 50])))
            // Beyond it: refused, each with its own code.
            await harness.expectRefused(key.token(claims: harness.claims(["exp": now - 61])), .expired)
            await harness.expectRefused(key.token(claims: harness.claims(["nbf": now + 61])), .notYetValid)
            await harness.expectRefused(key.token(claims: harness.claims(["iat": now + 61])), .issuedInFuture)
            // A token that was fine expires when the clock moves on.
            let token = key.token(claims: harness.claims(["exp": now + 10]))
            _ = try await harness.authenticate(token)
            harness.clock.advance(by: 71)
            await harness.expectRefused(token, .expired)
        }
    }

    @Test func leewayIsConfigurable() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key], environment: ["WALINK_JWT_LEEWAY": "0"]) { harness in
            let now = harness.clock.seconds
            await harness.expectRefused(key.token(claims: harness.claims(["exp": now])), .expired)
            await harness.expectRefused(key.token(claims: harness.claims(["nbf": now + 1])), .notYetValid)
            _ = try await harness.authenticate(key.token(claims: harness.claims(["exp": now + 1, "nbf": now])))
        }
    }

    @Test func expiryIsRequiredAndTimesMustBeNumbers() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            await harness.expectRefused(key.token(claims: harness.claims(["exp": NSNull()])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["exp": "\(harness.clock.seconds + 60)"])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["nbf": "yesterday"])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["iat": true])), .invalidClaims)
        }
    }

    @Test func tamperedPayloadOrSignatureIsRefused() async throws {
        for key in [TestSigningKey.rsa, .p256("ec-1"), .ed25519("ed-1")] {
            try await AuthHarness.with(keys: [key]) { harness in
                let token = key.token(claims: harness.claims(["role": "viewer"]))
                let parts = token.split(separator: ".").map(String.init)

                // The same signature over a payload that promotes the caller.
                let promoted = base64URL(json(harness.claims(["role": "owner"])))
                await harness.expectRefused([parts[0], promoted, parts[2]].joined(separator: "."), .invalidSignature)

                // One bit of the signature flipped.
                var signature = Base64URLTestDecoding.decode(parts[2])
                signature[signature.count / 2] ^= 0x01
                await harness.expectRefused([parts[0], parts[1], base64URL(signature)].joined(separator: "."), .invalidSignature)

                // A signature by another key of the same type under this kid.
                let impostor = TestSigningKey(kid: key.kid, material: Self.freshMaterial(like: key))
                await harness.expectRefused(impostor.token(claims: harness.claims()), .invalidSignature)

                // No signature at all.
                await harness.expectRefused(parts[0] + "." + parts[1] + ".", .invalidSignature)

                // The original still passes.
                let original = try await harness.authenticate(token)
                #expect(original.capabilities.isEmpty)
            }
        }
    }

    /// JOSE wants ES256 signatures as raw `r || s`; the DER form some libraries produce is refused.
    @Test func es256SignaturesMustBeRaw() async throws {
        let key = TestSigningKey.p256("ec-1")
        guard case .p256(let privateKey) = key.material else {
            Issue.record("the P-256 test key is not P-256")
            return
        }
        try await AuthHarness.with(keys: [key]) { harness in
            let input = base64URL(json(["alg": "ES256", "kid": "ec-1"])) + "." + base64URL(json(harness.claims()))
            let signature = try privateKey.signature(for: Array(input.utf8))
            await harness.expectRefused(input + "." + base64URL(signature.derRepresentation), .invalidSignature)
            await harness.expectRefused(input + "." + base64URL(signature.rawRepresentation.prefix(63)), .invalidSignature)
            let accepted = try await harness.authenticate(input + "." + base64URL(signature.rawRepresentation))
            #expect(accepted.organization == "org_a")
        }
    }

    @Test func algorithmNoneIsRefused() async throws {
        let key = TestSigningKey.rsa
        try await AuthHarness.with(keys: [key]) { harness in
            for alg in ["none", "None", "NONE", ""] {
                let header = base64URL(json(["alg": alg, "kid": key.kid]))
                let payload = base64URL(json(harness.claims()))
                await harness.expectRefused("\(header).\(payload).", .algorithmNotAllowed)
                await harness.expectRefused("\(header).\(payload).\(base64URL("x"))", .algorithmNotAllowed)
            }
        }
    }

    /// The classic confusion attack: HS256 "signed" with the RSA public key as the HMAC secret.
    @Test func hmacWithThePublicKeyAsSecretIsRefused() async throws {
        let key = TestSigningKey.rsa
        guard case .rsa(let privateKey) = key.material else {
            Issue.record("the shared RSA test key is not RSA")
            return
        }
        let publicKey = privateKey.publicKey
        try await AuthHarness.with(keys: [key]) { harness in
            let secrets: [[UInt8]] = [
                Array(jwksDocument([key]).utf8),
                json(key.jwk),
                Array(publicKey.pemRepresentation.utf8),
                Array(publicKey.pkcs1PEMRepresentation.utf8),
                [UInt8](publicKey.derRepresentation),
                [UInt8](publicKey.pkcs1DERRepresentation),
            ]
            for alg in ["HS256", "HS384", "HS512"] {
                for secret in secrets {
                    let input =
                        base64URL(json(["alg": alg, "kid": key.kid, "typ": "JWT"])) + "."
                        + base64URL(json(harness.claims()))
                    let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret))
                    await harness.expectRefused(input + "." + base64URL(Array(mac)), .algorithmNotAllowed)
                }
            }
        }
    }

    @Test func algorithmMustMatchTheKey() async throws {
        let rsa = TestSigningKey.rsa
        let ec = TestSigningKey.p256("ec-1")
        let ed = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [rsa, ec, ed]) { harness in
            // ES256 header naming the RSA key, signed with an EC key.
            let attacker = TestSigningKey.p256(rsa.kid)
            await harness.expectRefused(attacker.token(claims: harness.claims()), .keyMismatch)
            // RS256 header naming the EC key.
            await harness.expectRefused(TestSigningKey.rsaOther.renamed(ec.kid).token(claims: harness.claims()), .keyMismatch)
            // EdDSA header naming the EC key.
            await harness.expectRefused(TestSigningKey.ed25519(ec.kid).token(claims: harness.claims()), .keyMismatch)
            // Each key still works with its own algorithm.
            for key in [rsa, ec, ed] {
                _ = try await harness.authenticate(key.token(claims: harness.claims()))
            }
        }
    }

    @Test func jwkAlgorithmAndUseAreEnforced() async throws {
        let ec = TestSigningKey.p256("ec-1")
        let encryption = TestSigningKey.ed25519("enc-1")
        var encryptionJWK = encryption.jwk
        encryptionJWK["use"] = "enc"
        let noVerify = TestSigningKey.ed25519("ops-1")
        var noVerifyJWK = noVerify.jwk
        noVerifyJWK["key_ops"] = ["encrypt"]
        let symmetric: [String: Any] = ["kty": "oct", "kid": "hs-1", "k": base64URL("secret"), "alg": "HS256"]
        let weak = TestSigningKey(kid: "rsa-1024", material: .rsa(try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))))
        try await AuthHarness.with(keys: []) { harness in
            harness.server.serve(
                String(decoding: json(["keys": [ec.jwk, encryptionJWK, noVerifyJWK, symmetric, weak.jwk]]), as: UTF8.self)
            )
            _ = try await harness.authenticate(ec.token(claims: harness.claims()))
            // Keys not meant for signatures, symmetric keys and small RSA keys are never used.
            await harness.expectRefused(encryption.token(claims: harness.claims()), .unknownKey)
            await harness.expectRefused(noVerify.token(claims: harness.claims()), .unknownKey)
            await harness.expectRefused(weak.token(claims: harness.claims()), .unknownKey)
            let hs = base64URL(json(["alg": "HS256", "kid": "hs-1"])) + "." + base64URL(json(harness.claims()))
            let mac = HMAC<SHA256>.authenticationCode(for: Array(hs.utf8), using: SymmetricKey(data: Array("secret".utf8)))
            await harness.expectRefused(hs + "." + base64URL(Array(mac)), .algorithmNotAllowed)
        }
    }

    @Test func jwkDeclaringAnotherAlgorithmIsNotUsed() async throws {
        let ec = TestSigningKey.p256("ec-1")
        var jwk = ec.jwk
        jwk["alg"] = "RS256"  // contradicts kty EC: the whole JWK is dropped
        try await AuthHarness.with(keys: []) { harness in
            harness.server.serve(String(decoding: json(["keys": [jwk]]), as: UTF8.self))
            await harness.expectRefused(ec.token(claims: harness.claims()), .unknownKey)
        }
    }

    @Test func keyIDIsRequiredOnlyWhenTheSetHasSeveralKeys() async throws {
        let ed = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [ed]) { harness in
            _ = try await harness.authenticate(ed.token(claims: harness.claims(), header: ["kid": NSNull()]))
        }
        try await AuthHarness.with(keys: [ed, .p256("ec-1")]) { harness in
            await harness.expectRefused(ed.token(claims: harness.claims(), header: ["kid": NSNull()]), .missingKeyID)
            await harness.expectRefused(ed.token(claims: harness.claims(), header: ["kid": 7]), .malformedToken)
        }
    }

    /// Header members that would let a token bring its own key are ignored.
    @Test func embeddedKeysAndKeyURLsAreIgnored() async throws {
        let trusted = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [trusted]) { harness in
            let attacker = TestSigningKey.p256("attacker")
            let token = attacker.token(
                claims: harness.claims(),
                header: ["jwk": attacker.jwk, "jku": "http://127.0.0.1:1/evil.json", "x5u": "http://127.0.0.1:1/x"]
            )
            await harness.expectRefused(token, .unknownKey)
            let sameKid = attacker.renamed("ec-1").token(claims: harness.claims(), header: ["jwk": attacker.jwk])
            await harness.expectRefused(sameKid, .invalidSignature)
            await harness.expectRefused(trusted.token(claims: harness.claims(), header: ["crit": ["exp"]]), .malformedToken)
        }
    }

    @Test func issuerAndAudienceAreCheckedWhenConfigured() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        let environment = ["WALINK_JWT_ISSUER": "https://app.example.com", "WALINK_JWT_AUDIENCE": "walink, gateway"]
        try await AuthHarness.with(keys: [key], environment: environment) { harness in
            let good = ["iss": "https://app.example.com", "aud": "walink"]
            _ = try await harness.authenticate(key.token(claims: harness.claims(good)))
            _ = try await harness.authenticate(key.token(claims: harness.claims(["iss": "https://app.example.com", "aud": ["other", "gateway"]])))

            await harness.expectRefused(key.token(claims: harness.claims(["iss": "https://evil.example.com", "aud": "walink"])), .invalidIssuer)
            await harness.expectRefused(key.token(claims: harness.claims(["aud": "walink"])), .invalidIssuer)
            await harness.expectRefused(key.token(claims: harness.claims(["iss": "https://app.example.com", "aud": "other"])), .invalidAudience)
            await harness.expectRefused(key.token(claims: harness.claims(["iss": "https://app.example.com", "aud": ["a", "b"]])), .invalidAudience)
            await harness.expectRefused(key.token(claims: harness.claims(["iss": "https://app.example.com"])), .invalidAudience)
            await harness.expectRefused(key.token(claims: harness.claims(["iss": "https://app.example.com", "aud": 1])), .invalidAudience)
        }
        // Not configured: any iss and aud pass.
        try await AuthHarness.with(keys: [key]) { harness in
            _ = try await harness.authenticate(key.token(claims: harness.claims(["iss": "anyone", "aud": ["x"]])))
        }
    }

    @Test func rolesMapToCapabilities() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            func capabilities(_ role: Any) async throws -> Set<String> {
                try await harness.authenticate(key.token(claims: harness.claims(["role": role]))).capabilities
            }
            let cases: [(Any, Set<String>)] = [
                ("owner", [Principal.manage]), ("admin", [Principal.manage]), ("viewer", []),
                ("Owner", []),  // role names are exact
                (["viewer", "admin"], [Principal.manage]), ([String](), []), (NSNull(), []),  // NSNull: no role claim
            ]
            for (role, expected) in cases {
                let granted = try await capabilities(role)
                #expect(granted == expected, "\(role)")
            }
            await harness.expectRefused(key.token(claims: harness.claims(["role": 3])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["role": ["admin", 3]])), .invalidClaims)
        }
    }

    @Test func claimNamesAndRoleMappingAreConfigurable() async throws {
        let key = TestSigningKey.p256("ec-1")
        let environment = [
            "WALINK_JWT_ORG_CLAIM": "https://example.com/claims.org",
            "WALINK_JWT_ROLE_CLAIM": "https://example.com/claims.roles",
            "WALINK_JWT_ROLE_CAPABILITIES": "editor=manage|export,viewer=",
        ]
        try await AuthHarness.with(keys: [key], environment: environment) { harness in
            let nested: [String: Any] = ["https://example.com/claims": ["org": "org_nested", "roles": ["editor"]]]
            let principal = try await harness.authenticate(
                key.token(claims: harness.claims(nested.merging(["org": NSNull(), "role": NSNull()]) { a, _ in a }))
            )
            #expect(principal.organization == "org_nested")
            #expect(principal.capabilities == ["manage", "export"])

            // The default claim names are not read any more, and owner is no longer special.
            await harness.expectRefused(key.token(claims: harness.claims()), .invalidClaims)
            let owner: [String: Any] = ["https://example.com/claims": ["org": "org_nested", "roles": "owner"]]
            #expect(try await harness.authenticate(key.token(claims: harness.claims(owner))).capabilities.isEmpty)
        }
        // A top-level claim whose name contains dots is found as is.
        try await AuthHarness.with(keys: [key], environment: ["WALINK_JWT_ORG_CLAIM": "app.example.org"]) { harness in
            let principal = try await harness.authenticate(key.token(claims: harness.claims(["app.example.org": "org_dotted"])))
            #expect(principal.organization == "org_dotted")
        }
    }

    @Test func subjectAndOrganizationAreRequired() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            await harness.expectRefused(key.token(claims: harness.claims(["sub": NSNull()])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["sub": ""])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["sub": 42])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["org": NSNull()])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["org": ""])), .invalidClaims)
            await harness.expectRefused(key.token(claims: harness.claims(["org": ["org_a"]])), .invalidClaims)
            // Organizations end up in routing keys: no dots or wildcards.
            for org in ["org.a", "org*", "#", "org a", String(repeating: "o", count: 129)] {
                await harness.expectRefused(key.token(claims: harness.claims(["org": org])), .invalidClaims)
            }
        }
    }

    @Test func jwtLoginIsDisabledWithoutAKeySet() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        let authenticator = try CallerAuthenticator(configuration: AuthConfiguration(environment: [:]), apiKeys: nil)
        #expect(!authenticator.acceptsJWTs)
        let token = key.token(claims: standardClaims(now: Int(Date().timeIntervalSince1970)))
        await expectRefusal(authenticator, "Bearer \(token)", .jwtDisabled, secret: token)
        await expectRefusal(authenticator, "Bearer not-a-jwt", .jwtDisabled)
        await expectRefusal(authenticator, "Bearer wlk_abc", .apiKeysDisabled)
    }

    static func freshMaterial(like key: TestSigningKey) -> TestSigningKey.Material {
        switch key.material {
        case .rsa: TestSigningKey.rsaOther.material
        case .p256: .p256(P256.Signing.PrivateKey())
        case .ed25519: .ed25519(Curve25519.Signing.PrivateKey())
        }
    }
}

/// Decodes the base64url the test itself produced.
enum Base64URLTestDecoding {
    static func decode(_ text: String) -> [UInt8] {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return [UInt8](Data(base64Encoded: base64)!)
    }
}
