import AMQP
import Foundation
import Gateway
import Store
import Testing
import WalinkTestSupport

/// Sessions, organizations and authentication through the worker (real broker, real SQLite,
/// real API keys, real signed JWTs).
@Suite(.timeLimit(.minutes(5))) struct SessionCommandTests {
    @Test func createGetListDelete() async throws {
        let harness = try await SessionHarness.start()
        var validator = SchemaValidator()
        let created = try await harness.call("session.create", ["name": "Front desk"], token: harness.acmeKey)
        #expect(created.status == 201)
        try validator.validate(created.body, against: "commands/session.create.json#/$defs/response")
        let id = try #require(created.body.objectValue?["session"]?.stringValue)
        #expect(id.hasPrefix("sess_") && id.count == 31)
        #expect(created.body.objectValue?["status"] == "created")

        let chosen = try await harness.call("session.create", ["session": "desk-2"], token: harness.acmeKey)
        #expect(chosen.status == 201)
        let duplicate = try await harness.call("session.create", ["session": "desk-2"], token: harness.acmeKey)
        #expect(duplicate.status == 409)
        #expect(duplicate.body.objectValue?["error"]?.objectValue?["code"] == "conflict")
        try validator.validate(duplicate.body, against: "error.schema.json")
        let badID = try await harness.call("session.create", ["session": "no spaces!"], token: harness.acmeKey)
        #expect(badID.status == 400)
        #expect(badID.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "session")

        let fetched = try await harness.call("session.get", ["session": .string(id)], token: harness.acmeKey)
        #expect(fetched.status == 200)
        #expect(fetched.body.objectValue?["name"] == "Front desk")
        try validator.validate(fetched.body, against: "commands/session.get.json#/$defs/response")

        let listed = try await harness.call("session.list", [:], token: harness.acmeKey)
        try validator.validate(listed.body, against: "commands/session.list.json#/$defs/response")
        let ids = listed.body.objectValue?["sessions"]?.arrayValue?.compactMap { $0.objectValue?["session"]?.stringValue }
        #expect(Set(ids ?? []) == [id, "desk-2"])

        let deleted = try await harness.call("session.delete", ["session": .string(id)], token: harness.acmeKey)
        #expect(deleted.status == 200)
        try validator.validate(deleted.body, against: "commands/session.delete.json#/$defs/response")
        #expect(try await harness.call("session.get", ["session": .string(id)], token: harness.acmeKey).status == 404)
        await harness.stop()
    }

    @Test func listIsPaginatedAndOwnOrganizationOnly() async throws {
        let harness = try await SessionHarness.start()
        for index in 0..<5 { _ = try await harness.call("session.create", ["session": .string("a\(index)")], token: harness.acmeKey) }
        _ = try await harness.call("session.create", ["session": "g0"], token: harness.globexKey)
        var seen: [String] = []
        var cursor: JSONValue = .null
        var pages = 0
        repeat {
            var body: JSONObject = ["limit": 2]
            if cursor != .null { body["cursor"] = cursor }
            let page = try await harness.call("session.list", .object(body), token: harness.acmeKey)
            #expect(page.status == 200)
            seen += page.body.objectValue?["sessions"]?.arrayValue?.compactMap { $0.objectValue?["session"]?.stringValue } ?? []
            cursor = page.body.objectValue?["nextCursor"] ?? .null
            pages += 1
        } while cursor != .null && pages < 10
        #expect(seen == ["a0", "a1", "a2", "a3", "a4"])
        #expect(pages == 3)
        let badLimit = try await harness.call("session.list", ["limit": 1000], token: harness.acmeKey)
        #expect(badLimit.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "limit")
        let badCursor = try await harness.call("session.list", ["cursor": "garbage"], token: harness.acmeKey)
        #expect(badCursor.status == 400)
        await harness.stop()
    }

    @Test func anotherOrganizationsSessionIsExactlyLikeAMissingOne() async throws {
        let harness = try await SessionHarness.start()
        _ = try await harness.call("session.create", ["session": "secret"], token: harness.acmeKey)
        for command in ["session.get", "session.me", "session.delete"] {
            let foreign = try await harness.call(command, ["session": "secret"], token: harness.globexKey)
            let missing = try await harness.call(command, ["session": "never-existed"], token: harness.globexKey)
            #expect(foreign.status == 404)
            #expect(foreign.body == missing.body)
            #expect(foreign.body == GatewayError.sessionNotFound.body)
        }
        // Still there for its owner.
        #expect(try await harness.call("session.get", ["session": "secret"], token: harness.acmeKey).status == 200)
        await harness.stop()
    }

    @Test func meIsNotFoundUntilPairedThenTheIdentity() async throws {
        let harness = try await SessionHarness.start()
        _ = try await harness.call("session.create", ["session": "phone-1"], token: harness.acmeKey)
        let before = try await harness.call("session.me", ["session": "phone-1"], token: harness.acmeKey)
        #expect(before.status == 404)
        #expect(before.body.objectValue?["error"]?.objectValue?["message"] == "session is not paired")
        _ = try await harness.store.markPaired(
            organization: "acme", id: "phone-1",
            identity: SessionIdentity(
                jid: "628123456789:7@s.whatsapp.net", lid: "99887766:7@lid", deviceID: 7, pushName: nil, phone: "628123456789", platform: "android"),
            credentials: Data([1, 2, 3])
        )
        let after = try await harness.call("session.me", ["session": "phone-1"], token: harness.acmeKey)
        #expect(after.status == 200)
        var validator = SchemaValidator()
        try validator.validate(after.body, against: "commands/session.me.json#/$defs/response")
        let me = try #require(after.body.objectValue)
        #expect(me["jid"] == "628123456789:7@s.whatsapp.net")
        #expect(me["lid"] == "99887766:7@lid")
        #expect(me["deviceId"] == 7)
        #expect(me["phone"] == "628123456789")
        #expect(me["platform"] == "android")
        #expect(me["pushName"] == .null)
        #expect(me["pairedAt"]?.stringValue?.hasSuffix("Z") == true)
        await harness.stop()
    }

    @Test func callersWithoutValidCredentialsOrCapabilityAreRefused() async throws {
        let harness = try await SessionHarness.start()
        let cases: [(String?, Int, String)] = [
            (nil, 401, "unauthorized"),
            ("not-a-token", 401, "unauthorized"),
            ("wlk_" + String(repeating: "x", count: 43), 401, "unauthorized"),
            (harness.revokedKey, 401, "unauthorized"),
            (harness.acmeReadOnlyKey, 403, "forbidden"),
            (harness.jwt(org: "acme", role: "viewer"), 403, "forbidden"),
            (harness.jwt(org: "acme", role: "admin", expiresIn: -3600), 401, "unauthorized"),
        ]
        var validator = SchemaValidator()
        for (token, status, code) in cases {
            let reply = try await harness.call("session.list", [:], token: token)
            #expect(reply.status == status, "token \(token?.prefix(8) ?? "none")")
            #expect(reply.body.objectValue?["error"]?.objectValue?["code"] == .string(code))
            try validator.validate(reply.body, against: "error.schema.json")
            // No error message repeats the token.
            if let token { #expect(!reply.body.text.contains(token)) }
        }
        let jwtOwner = try await harness.call("session.create", ["session": "by-jwt"], token: harness.jwt(org: "acme", role: "owner"))
        #expect(jwtOwner.status == 201)
        // The JWT's organization is the API key's organization: the same sessions.
        #expect(try await harness.call("session.get", ["session": "by-jwt"], token: harness.acmeKey).status == 200)
        await harness.stop()
    }

    @Test func checksRunInTheDocumentedOrder() async throws {
        let harness = try await SessionHarness.start()
        // Unknown command before anything else.
        #expect(try await harness.caller.call("session.teleport", json: "{oops").status == 501)
        // Authentication before the body.
        #expect(try await harness.caller.call("session.get", json: "{oops").status == 401)
        // Capability before the body.
        #expect(try await harness.call("session.get", .string("not an object"), token: harness.acmeReadOnlyKey).status == 403)
        // Body syntax before the session.
        let malformed = try await harness.caller.call("session.get", json: "{oops", headers: ["authorization": .string("Bearer \(harness.acmeKey)")])
        #expect(malformed.status == 400)
        // The session before the other parameters.
        #expect(try await harness.call("session.get", ["session": "missing", "surprise": 1], token: harness.acmeKey).status == 404)
        _ = try await harness.call("session.create", ["session": "here"], token: harness.acmeKey)
        let extra = try await harness.call("session.get", ["session": "here", "surprise": 1], token: harness.acmeKey)
        #expect(extra.status == 400)
        #expect(extra.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "surprise")
        await harness.stop()
    }
}
