import AMQP
import Foundation
import Gateway
import Store
import Testing
import WalinkTestSupport
import WhatsAppSimulator

/// Linking end to end through RabbitMQ against the WhatsApp simulator: the real client, the real
/// protocol over TLS, real signatures.
@Suite(.timeLimit(.minutes(5))) struct LinkingTests {
    @Test func qrFlowPairsAndMeTellsTheIdentity() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("desk")
        let first = try await harness.call("session.qr", ["session": "desk"])
        #expect(first.status == 404)
        #expect(first.body.objectValue?["error"]?.objectValue?["message"] == "pairing started; the code follows as an auth.qr event")

        let qr = try #require(await harness.qr("desk"))
        #expect(qr.hasPrefix("https://wa.me/settings/linked_devices#2@"))
        // While the code is current, session.qr answers it.
        let current = try await harness.call("session.qr", ["session": "desk"])
        #expect(current.status == 200)
        #expect(current.body.objectValue?["qr"] == .string(qr))
        var validator = SchemaValidator()
        try validator.validate(current.body, against: "commands/session.qr.json#/$defs/response")

        guard case .paired(let device) = try await harness.simulator.scan(qr: qr) else {
            Issue.record("the phone did not pair")
            return
        }
        let paired = try #require(await harness.event("auth.paired", session: "desk"))
        try validator.validate(.object(paired), against: "events/auth.paired.json")
        #expect(paired["data"]?.objectValue?["jid"] == .string(device.jid))

        let me = try await harness.call("session.me", ["session": "desk"])
        #expect(me.status == 200)
        try validator.validate(me.body, against: "commands/session.me.json#/$defs/response")
        #expect(me.body.objectValue?["jid"] == .string(device.jid))
        #expect(me.body.objectValue?["lid"] == .string(device.lid))
        #expect(me.body.objectValue?["deviceId"] == .int(Int64(device.deviceID)))
        #expect(me.body.objectValue?["phone"] == .string(device.phoneNumber))
        #expect(me.body.objectValue?["platform"] == "android")
        // Stored encrypted, with the login done on the simulator's side.
        #expect(try await harness.store.credentials(organization: "acme", id: "desk") != nil)
        #expect(harness.simulator.pairedDevices.first { $0.jid == device.jid }?.loginCount == 1)
        // Paired sessions refuse new pairing.
        let again = try await harness.call("session.qr", ["session": "desk"])
        #expect(again.status == 400)
        #expect(try await harness.call("session.pairing-code", ["session": "desk", "phone": "15550001111"]).status == 400)
        await harness.stop()
    }

    @Test func pairingCodeFlowPairs() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("by-code")
        let phone = harness.simulator.defaultPhoneNumber
        let reply = try await harness.call("session.pairing-code", ["session": "by-code", "phone": .string(phone)])
        #expect(reply.status == 200)
        var validator = SchemaValidator()
        try validator.validate(reply.body, against: "commands/session.pairing-code.json#/$defs/response")
        let code = try #require(reply.body.objectValue?["code"]?.stringValue)
        #expect(code.count == 9 && code.dropFirst(4).first == "-")
        // Asking again reuses the running connection and the live code, with its first expiry.
        let repeated = try await harness.call("session.pairing-code", ["session": "by-code", "phone": .string(phone)])
        #expect(repeated.body.objectValue?["code"] == .string(code))
        #expect(repeated.body.objectValue?["expiresAt"] == reply.body.objectValue?["expiresAt"])
        #expect(harness.simulator.status().registrationConnections == 1)
        let issued = try #require(await harness.event("auth.code", session: "by-code"))
        #expect(issued["data"]?.objectValue?["code"] == .string(code))
        #expect(harness.events.items.filter { $0.objectValue?["type"] == "auth.code" }.count == 1)

        guard case .paired(let device) = try await harness.simulator.enterCode(code, phone: phone) else {
            Issue.record("the phone did not pair")
            return
        }
        #expect(await harness.event("auth.paired", session: "by-code") != nil)
        let me = try await harness.call("session.me", ["session": "by-code"])
        #expect(me.body.objectValue?["jid"] == .string(device.jid))
        #expect(me.body.objectValue?["phone"] == .string(phone))
        await harness.stop()
    }

    @Test func phoneNumbersAreValidated() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("v")
        for bad in ["+628123456789", "0812345678", "62 812 345", "123", "1234567890123456", ""] {
            let reply = try await harness.call("session.pairing-code", ["session": "v", "phone": .string(bad)])
            #expect(reply.status == 400, "\(bad)")
            #expect(reply.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "phone")
        }
        // Nothing started for a refused number.
        #expect(harness.simulator.status().acceptedConnections == 0)
        await harness.stop()
    }

    /// A failure: the event names the reason, nothing is stored and the session can start over.
    func expectFailure(_ harness: LinkingHarness, session: String, reason: String) async throws {
        let failed = try #require(await harness.event("auth.failed", session: session))
        #expect(failed["data"]?.objectValue?["reason"] == .string(reason))
        var validator = SchemaValidator()
        try validator.validate(.object(failed), against: "events/auth.failed.json")
        #expect(try await harness.call("session.me", ["session": .string(session)]).status == 404)
        #expect(try await harness.store.credentials(organization: "acme", id: session) == nil)
        let record = try #require(try await harness.store.session(organization: "acme", id: session))
        #expect(record.status == .failed)
        #expect(record.identity == nil)
    }

    @Test func aWrongRootKeyFailsTheHandshake() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("mitm")
        harness.simulator.setFaults(SimulatorFaults(wrongRootKey: true), for: .nextConnection)
        _ = try await harness.call("session.qr", ["session": "mitm"])
        try await expectFailure(harness, session: "mitm", reason: "certificate_invalid")
        await harness.stop()
    }

    @Test(arguments: [(PairSuccessFault.badHMAC, "hmac_mismatch"), (PairSuccessFault.badAccountSignature, "signature_mismatch")])
    func aForgedPairSuccessIsRefused(fault: PairSuccessFault, reason: String) async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("forged")
        _ = try await harness.call("session.qr", ["session": "forged"])
        let qr = try #require(await harness.qr("forged"))
        await #expect(throws: SimulatorError.self) {
            try await harness.simulator.scan(qr: qr, faults: SimulatorFaults(pairSuccess: fault))
        }
        try await expectFailure(harness, session: "forged", reason: reason)
        #expect(harness.simulator.pairedDevices.isEmpty)
        await harness.stop()
    }

    @Test func aConnectionDroppedMidPairingFails() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("dropped")
        _ = try await harness.call("session.qr", ["session": "dropped"])
        let qr = try #require(await harness.qr("dropped"))
        #expect(try await harness.simulator.scan(qr: qr, faults: SimulatorFaults(dropAfterScan: true)) == .connectionDropped)
        try await expectFailure(harness, session: "dropped", reason: "connection_lost")
        await harness.stop()
    }

    @Test func pairingCodeRefusalsMapToErrorsCallersCanActOn() async throws {
        let harness = try await LinkingHarness.start()
        let phone = harness.simulator.defaultPhoneNumber
        try await harness.createSession("limited")
        harness.simulator.setFaults(SimulatorFaults(companionHelloRefusal: .rateOverlimit(backoffSeconds: 42)), for: .phone(phone))
        let limited = try await harness.call("session.pairing-code", ["session": "limited", "phone": .string(phone)])
        #expect(limited.status == 429)
        let details = limited.body.objectValue?["error"]?.objectValue?["details"]?.objectValue
        #expect(limited.body.objectValue?["error"]?.objectValue?["code"] == "rate_limited")
        #expect(details?["retryAfter"] == 42)
        #expect(details?["whatsappCode"] == 429)

        try await harness.createSession("refused")
        harness.simulator.setFaults(SimulatorFaults(companionHelloRefusal: .badRequest), for: .phone(phone))
        let refused = try await harness.call("session.pairing-code", ["session": "refused", "phone": .string(phone)])
        #expect(refused.status == 502)
        #expect(refused.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["whatsappCode"] == 400)
        var validator = SchemaValidator()
        try validator.validate(limited.body, against: "error.schema.json")
        try validator.validate(refused.body, against: "error.schema.json")
        await harness.stop()
    }

    @Test func companionRegRefreshReRendersTheQRAndARescanPairs() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("refresh")
        _ = try await harness.call("session.qr", ["session": "refresh"])
        let first = try #require(await harness.qr("refresh", sequence: 1))
        #expect(try await harness.simulator.scan(qr: first, faults: SimulatorFaults(companionRegRefreshAfterScan: true)) == .companionRegRefreshSent)
        let second = try #require(await harness.qr("refresh", sequence: 2))
        // Same ref, new adv secret.
        #expect(second != first)
        #expect(second.split(separator: ",").first == first.split(separator: ",").first)
        guard case .paired = try await harness.simulator.scan(qr: second) else {
            Issue.record("the rescan did not pair")
            return
        }
        #expect(await harness.event("auth.paired", session: "refresh") != nil)
        await harness.stop()
    }

    @Test func refsRunningOutEndInTimeoutAndASessionCanStartAgain() async throws {
        let harness = try await LinkingHarness.start(timing: .init(firstQR: .milliseconds(1500), nextQR: .milliseconds(500), refs: 3))
        try await harness.createSession("slow")
        _ = try await harness.call("session.qr", ["session": "slow"])
        let found = await harness.event("auth.timeout", session: "slow")
        let seen = harness.events.items.compactMap { $0.objectValue }.filter { $0["session"] == "slow" }
        let timeout = try #require(found, "events for the session: \(seen.map { "\($0["type"]?.stringValue ?? "") \($0["data"]?.text ?? "")" })")
        var validator = SchemaValidator()
        try validator.validate(.object(timeout), against: "events/auth.timeout.json")
        // At most one code per ref: the server may end the codes a moment before our own timer shows
        // the last one, and a code that expired before a slow machine sent it is dropped, not late.
        #expect(harness.events.items.filter { $0.objectValue?["type"] == "auth.qr" }.count <= 3)
        #expect(try await harness.store.session(organization: "acme", id: "slow")?.status == .created)
        // A new request starts a new pairing (announced by a second `pairing` status), once the
        // ended one is gone (until then the session answers 503 with `retryAfter`).
        let links = try #require(harness.worker.links)
        #expect(await Deadline.within(.seconds(60)) { await links.waitUntilIdle() })
        #expect(try await harness.call("session.qr", ["session": "slow"]).status == 404)
        let restarted = await harness.events.wait { events in
            events.filter { $0.objectValue?["type"] == "session.status" && $0.objectValue?["data"]?.objectValue?["status"] == "pairing" }
                .count == 2
        }
        #expect(restarted != nil)
        await harness.stop()
    }

    @Test func deletingASessionStopsItsPairing() async throws {
        let harness = try await LinkingHarness.start()
        try await harness.createSession("gone")
        _ = try await harness.call("session.qr", ["session": "gone"])
        _ = try #require(await harness.qr("gone"))
        #expect(try await harness.call("session.delete", ["session": "gone"]).status == 200)
        let stopped = try #require(await harness.event("auth.failed", session: "gone"))
        #expect(stopped["data"]?.objectValue?["reason"] == "session_deleted")
        // The link finishes its bookkeeping (lease, registration) right after its last event.
        let links = try #require(harness.worker.links)
        #expect(await Deadline.within(.seconds(60)) { await links.waitUntilIdle() })
        #expect(links.activeCount == 0)
        await harness.stop()
    }

    /// The store stops answering this worker's lease renewals (a partitioned database): at its own
    /// deadline the worker closes the WhatsApp connections it owns, whatever the hanging call does,
    /// reports `lease_lost`, refuses new pairings meanwhile, and registers a new tenure once the
    /// store answers again.
    @Test func aWorkerWhoseLeaseRenewalHangsClosesItsLinksAndRegistersAnew() async throws {
        var timing = LinkingHarness.Timing()
        timing.lease = .seconds(6)
        let harness = try await LinkingHarness.start(timing: timing, wrapStore: { StallingStore($0) })
        let stalling = try #require(harness.store as? StallingStore)
        let links = try #require(harness.worker.links)
        let first = try #require(await Deadline.value(within: .seconds(60)) { await links.waitForTenure() })
        try await harness.createSession("held")
        _ = try await harness.call("session.qr", ["session": "held"])
        _ = try #require(await harness.qr("held"))

        stalling.stallRenewals()
        let stopped = try #require(await harness.event("auth.failed", session: "held"))
        #expect(stopped["data"]?.objectValue?["reason"] == "lease_lost")
        #expect(await Deadline.within(.seconds(60)) { await links.waitUntilIdle() })
        // No tenure while the store does not answer: new pairings are refused with a reason.
        let refused = try await harness.call("session.qr", ["session": "held"])
        #expect(refused.status == 503)
        #expect(refused.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["reason"] == "store_unavailable")

        stalling.resume()
        let second = try #require(await Deadline.value(within: .seconds(60)) { await links.waitForTenure() })
        #expect(second.epoch > first.epoch, "a new tenure, which fences the lapsed one")
        _ = try await harness.call("session.qr", ["session": "held"])
        // The new pairing's status event: the second `pairing` of the session.
        let restarted = await harness.events.wait { events in
            events.filter { $0.objectValue?["type"] == "session.status" && $0.objectValue?["data"]?.objectValue?["status"] == "pairing" }
                .count >= 2
        }
        #expect(restarted != nil)
        #expect(try await harness.store.sessionOwner(organization: "acme", session: "held")?.owner == second)
        await harness.stop()
    }

    @Test func concurrentStartsNeverOvershootThePairingLimit() async throws {
        let harness = try await LinkingHarness.start(maxLinks: 3)
        let ids = (0..<12).map { "limited-\($0)" }
        for id in ids { try await harness.createSession(id) }
        // All twelve at once: the limit is checked where a link is registered, so no two starts
        // can both see room for one more.
        let statuses = try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for id in ids { group.addTask { (id, try await harness.call("session.qr", ["session": .string(id)]).status) } }
            var statuses: [String: Int] = [:]
            for try await (id, status) in group { statuses[id] = status }
            return statuses
        }
        let started = statuses.filter { $0.value == 404 }.map(\.key)
        #expect(started.count == 3)
        #expect(statuses.values.filter { $0 == 503 }.count == 9)
        #expect(harness.worker.links?.activeCount == 3)
        // A refused start leaves no claim behind: another worker could take that session at once.
        for id in ids where !started.contains(id) {
            #expect(try await harness.store.sessionOwner(organization: "acme", session: id) == nil)
        }
        await harness.stop()
    }

    @Test func aHundredSessionsPairAtOnceOnOneWorker() async throws {
        let harness = try await LinkingHarness.start()
        let ids = (0..<100).map { "bulk-\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    try await harness.createSession(id)
                    _ = try await harness.call("session.qr", ["session": .string(id)])
                    guard let qr = await harness.qr(id, sequence: 1) else { throw BrokerControlError(message: "no QR for \(id)") }
                    _ = try await harness.simulator.scan(qr: qr)
                }
            }
            try await group.waitForAll()
        }
        let paired = await harness.events.wait(timeout: .seconds(60)) { events in
            Set(events.compactMap { $0.objectValue?["type"] == "auth.paired" ? $0.objectValue?["session"]?.stringValue : nil }).count == 100
        }
        #expect(paired != nil)
        let listed = try await harness.call("session.list", ["limit": 100])
        let statuses = listed.body.objectValue?["sessions"]?.arrayValue?.compactMap { $0.objectValue?["status"]?.stringValue } ?? []
        #expect(statuses.count == 100)
        #expect(statuses.allSatisfy { $0 == "paired" })
        #expect(harness.simulator.pairedDevices.count == 100)
        await harness.stop()
    }
}

/// QR strings, pairing codes, tokens and keys go into answers and events, never into logs.
@Suite(.timeLimit(.minutes(5))) struct SecretsInLogsTests {
    @Test func aFullPairingLogsNoSecretsEvenAtTrace() async throws {
        let capture = LogCapture()
        let harness = try await LinkingHarness.start(logger: capture.logger())
        // QR flow.
        try await harness.createSession("s-qr")
        _ = try await harness.call("session.qr", ["session": "s-qr"])
        let qr = try #require(await harness.qr("s-qr"))
        _ = try await harness.simulator.scan(qr: qr)
        #expect(await harness.event("auth.paired", session: "s-qr") != nil)
        // Code flow.
        try await harness.createSession("s-code")
        let phone = harness.simulator.defaultPhoneNumber
        let code = try #require(
            try await harness.call("session.pairing-code", ["session": "s-code", "phone": .string(phone)]).body.objectValue?["code"]?.stringValue)
        _ = try await harness.simulator.enterCode(code, phone: phone)
        #expect(await harness.event("auth.paired", session: "s-code") != nil)
        // A refused token too.
        _ = try await harness.caller.call(
            "session.get", json: "{\"session\":\"s-qr\"}", headers: ["authorization": .string("Bearer wlk_not-a-real-key-0123456789")])
        await harness.stop()

        let lines = capture.all
        #expect(lines.count > 20, "the capture must see the worker's logs")
        let qrParts = qr.split(separator: "#").last.map { $0.split(separator: ",").map(String.init) } ?? []
        var secrets = [qr, code, code.replacingOccurrences(of: "-", with: ""), harness.key, "wlk_not-a-real-key-0123456789"]
        secrets += qrParts.prefix(4)  // ref, noise key, identity key, adv secret
        for secret in secrets where secret.count >= 8 {
            let leaks = lines.filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "a secret appears in \(leaks.count) log line(s): \(leaks.first?.prefix(120) ?? "")")
        }
    }
}
