import Auth
import Foundation
import TestRandom
import Testing

/// Whatever arrives in the header, the answer is a clean 401 with a specific code: no crash, no
/// hang, no key set fetch for garbage.
@Suite struct HostileInputTests {
    @Test func randomBytesAreRefusedCleanly() async throws {
        let key = TestSigningKey.p256("ec-1")
        try await AuthHarness.with(keys: [key]) { harness in
            var random = SeededRandom(seed: 0x5EED)
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/~".utf8)
            for round in 0..<600 {
                let length = Int.random(in: 0...300, using: &random)
                let bytes: [UInt8] = (0..<length).map { _ in
                    round % 2 == 0 ? UInt8.random(in: 0...255, using: &random) : alphabet.randomElement(using: &random)!
                }
                let header = "Bearer " + String(decoding: bytes, as: UTF8.self)
                do throws(AuthError) {
                    let principal = try await harness.authenticator.authenticate(authorization: header)
                    Issue.record("random input accepted as \(principal)")
                } catch {
                    #expect(error.code.status == 401, "round \(round): \(error.code)")
                }
            }
        }
    }

    @Test func garbageInEachPartIsMalformed() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            let good = key.token(claims: harness.claims()).split(separator: ".").map(String.init)
            let malformed = [
                "a", "a.b", "a.b.c.d", "..", ".\(good[1]).\(good[2])", "\(good[0])..\(good[2])",
                "\(good[0]).\(good[1]).\(good[2]).\(good[2])",
                "a.\(good[1]).\(good[2])",  // one base64 character cannot be a byte
                "\(good[0])x.\(good[1]).\(good[2])",
                "\(good[0]).\(good[1]).\(good[2])==",  // padding is not base64url
                "\(base64URL("not json")).\(good[1]).\(good[2])",
                "\(base64URL("[\"alg\",\"EdDSA\"]")).\(good[1]).\(good[2])",
                "\(base64URL("{\"alg\":\"EdDSA\",\"alg\":\"none\"}")).\(good[1]).\(good[2])",  // duplicate members
                "\(base64URL("{\"alg\":\"EdDSA\"} trailing")).\(good[1]).\(good[2])",
                "\(base64URL("{\"kid\":\"ed-1\"}")).\(good[1]).\(good[2])",  // no alg
                "\(base64URL("{\"alg\":7}")).\(good[1]).\(good[2])",
                "\(base64URL([0xFF, 0xFE, 0x7B, 0x7D] as [UInt8])).\(good[1]).\(good[2])",
                "\(base64URL("{\"alg\":\"EdDSA\",\"x\":\"\\ud800\"}")).\(good[1]).\(good[2])",  // lone surrogate
            ]
            for token in malformed {
                await harness.expectRefused(token, .malformedToken)
            }
            #expect(harness.server.requestCount == 0)  // nothing above got as far as the keys
        }
    }

    @Test func garbageClaimsBehindAValidSignatureAreMalformed() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            for payload in ["null", "[]", "\"claims\"", "{\"exp\":1e999}", "{", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}"] {
                let input = base64URL(json(["alg": "EdDSA", "kid": "ed-1"])) + "." + base64URL(payload)
                let token = input + "." + base64URL(key.sign(Array(input.utf8)))
                await harness.expectRefused(token, .malformedToken)
            }
        }
    }

    @Test func deeplyNestedJSONIsRefusedWithoutRecursingIntoIt() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key], configure: { $0.maxTokenLength = 4 << 20 }) { harness in
            for depth in [17, 1000, 200_000] {
                let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
                let header = base64URL("{\"alg\":\"EdDSA\",\"kid\":\"ed-1\",\"x\":\(nested)}")
                await harness.expectRefused("\(header).\(base64URL(json(harness.claims()))).AAAA", .malformedToken)

                let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
                var claims = String(decoding: json(harness.claims()), as: UTF8.self)
                claims.removeLast()
                let input = base64URL(json(["alg": "EdDSA", "kid": "ed-1"])) + "." + base64URL(claims + ",\"deep\":\(objects)}")
                await harness.expectRefused(input + "." + base64URL(key.sign(Array(input.utf8))), .malformedToken)
            }
            // Nesting within the limit is fine.
            let shallow: [String: Any] = ["a": ["b": ["c": ["d": 1]]]]
            _ = try await harness.authenticate(key.token(claims: harness.claims(["extra": shallow])))
        }
    }

    @Test func hostileKeySetsDoNotBreakTheWorker() async throws {
        let key = TestSigningKey.ed25519("ed-1")
        try await AuthHarness.with(keys: [key]) { harness in
            let token = key.token(claims: harness.claims(["exp": harness.clock.seconds + 7200]))
            let hostile = [
                String(repeating: "[", count: 100_000),
                "{\"keys\": {}}",
                "{\"keys\": [1, \"x\", null, {\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}",
                "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"\(base64URL([UInt8](repeating: 1, count: 32)))\", \"y\": \"\(base64URL([UInt8](repeating: 2, count: 32)))\", \"kid\": \"ed-1\"}]}",
                "{\"keys\": [{\"kty\": \"RSA\", \"kid\": \"ed-1\", \"n\": \"\(base64URL([UInt8](repeating: 0xFF, count: 256)))\", \"e\": \"AQ\"}]}",
            ]
            for (index, document) in hostile.enumerated() {
                harness.server.serve(document)
                harness.clock.advance(by: 601)
                await harness.expectRefused(token, index < 2 ? .keysUnavailable : .unknownKey)
            }
            harness.server.serve(jwksDocument([key]))
            harness.clock.advance(by: 601)
            _ = try await harness.authenticate(token)
        }
    }
}
