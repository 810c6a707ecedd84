import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

@Suite struct LinkStateMachineQRTests {
    let primary = TestPrimary()

    @Test func startOpensARegistrationConnection() {
        var harness = Harness()
        let actions = harness.feed(.start)
        #expect(actions.count == 1)
        let payload = try! #require(harness.connects.first?.payload)
        #expect(payload == ClientPayloadBuilder.registration(credentials: harness.initialCredentials))
        // A second start does nothing.
        #expect(harness.feed(.start).isEmpty)

        harness.feed(.connectionOpened(harness.connection))
        #expect(harness.timers[.keepAlive] != nil)
        #expect(harness.timers[.pairDevice]?.due == .seconds(30))
        #expect(harness.events.isEmpty)
    }

    @Test func pairDeviceIsAckedAtOnceAndTheFirstQRShowsForSixtySeconds() throws {
        var harness = Harness()
        harness.openRegistration()
        let actions = harness.receive(primary.pairDevice())

        // The ack comes first: <iq id="pd-1" type="result" to="@s.whatsapp.net"/>, no children.
        guard case .send(let ack) = actions.first else {
            Issue.record("no ack first")
            return
        }
        #expect(ack == BinaryNode("iq", ["id": "pd-1", "type": "result", "to": .jid(.serverJID)]))

        let qr = try #require(harness.qrs.first)
        #expect(qr.sequence == 1)
        #expect(qr.expiresAt == harness.date.addingTimeInterval(60))
        let parsed = try PairingQR.parse(qr.code)
        #expect(parsed.isDeepLink)
        #expect(parsed.platformID == "1")
        #expect(parsed.qr.ref == TestPrimary.sixRefs[0])
        #expect(parsed.qr.noisePublicKey == harness.initialCredentials.noiseKey.publicKey)
        #expect(parsed.qr.identityPublicKey == harness.initialCredentials.identityKey.publicKey)
        #expect(parsed.qr.advSecret == harness.initialCredentials.advSecretKey)
        #expect(harness.machine.currentQR == qr.code)
        #expect(harness.timers[.qrRotation]?.due == .seconds(60))
        #expect(harness.timers[.pairDevice] == nil)
    }

    /// WhatsApp closes the socket when its last code is done; that close can beat our own timer.
    @Test func theServerClosingAsTheLastRefEndsIsATimeout() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        for _ in 1..<6 { try #require(harness.fire(.qrRotation) != nil) }
        harness.advance(.seconds(19))
        harness.feed(.connectionClosed(harness.connection, nil))
        #expect(harness.terminalEvents == [.timeout])
    }

    @Test func theServerClosingEarlierIsALostConnection() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.advance(.seconds(50))
        harness.feed(.connectionClosed(harness.connection, nil))
        guard case .failed(let failure)? = harness.terminalEvents.first else {
            Issue.record("expected a failure, got \(harness.terminalEvents)")
            return
        }
        #expect(failure.code == .connectionLost)
    }

    @Test func refsRotateThenTimeOutWithExactlyOneTerminalEvent() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        for index in 1..<6 {
            let fired = harness.fire(.qrRotation)
            try #require(fired != nil)
            let qr = try #require(harness.qrs.last)
            #expect(qr.sequence == index + 1)
            #expect(try PairingQR.parse(qr.code).qr.ref == TestPrimary.sixRefs[index])
            #expect(qr.expiresAt == harness.date.addingTimeInterval(20))
        }
        #expect(harness.elapsed == .seconds(140))
        #expect(harness.terminalEvents.isEmpty)

        let lastFired = harness.fire(.qrRotation)

        let last = try #require(lastFired)
        #expect(Harness.events(last) == [.timeout])
        #expect(harness.terminalEvents == [.timeout])
        #expect(harness.closes == 1)
        #expect(harness.finished)
        #expect(harness.machine.currentQR == nil)
        #expect(harness.timers.isEmpty)
        // Nothing happens any more.
        #expect(harness.receive(primary.pairDevice()).isEmpty)
    }

    @Test func fourFieldFormWhenConfigured() throws {
        var configuration = LinkConfiguration()
        configuration.qrUsesURLForm = false
        configuration.firstQRLifetime = .seconds(5)
        var harness = Harness(configuration: configuration)
        harness.openRegistration()
        harness.receive(primary.pairDevice(refs: ["2@abc"]))
        let qr = try #require(harness.qrs.first)
        #expect(!qr.code.hasPrefix("https://"))
        let parsed = try PairingQR.parse(qr.code)
        #expect(parsed.platformID == nil && !parsed.isDeepLink)
        #expect(qr.expiresAt == harness.date.addingTimeInterval(5))
    }

    @Test func refsThatCannotBeRenderedAreSkipped() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice(refs: ["bad,ref", "2@good"]))
        #expect(harness.qrs.count == 1)
        #expect(try PairingQR.parse(harness.qrs[0].code).qr.ref == "2@good")
    }

    @Test func pairDeviceWithoutRefsIsAckedAndIgnored() {
        var harness = Harness()
        harness.openRegistration()
        let actions = harness.receive(primary.pairDevice(refs: []))
        #expect(Harness.sent(actions).map(\.tag) == ["iq"])
        #expect(harness.qrs.isEmpty)
        #expect(harness.timers[.pairDevice] != nil)
    }

    @Test func noPairDeviceInTimeFails() throws {
        var harness = Harness()
        harness.openRegistration()
        let fired = harness.fire(.pairDevice)
        try #require(fired != nil)
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .timeout)
        #expect(harness.finished)
    }

    @Test(arguments: ["companion_reg_refresh", "pair-device-rotate-qr"])
    func regRefreshRotatesTheSecretAndReRendersTheCurrentRef(child: String) throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let first = try #require(harness.qrs.first)
        harness.advance(.seconds(10))

        let actions = harness.receive(TestPrimary.regRefresh(id: "rr-1", child: child))
        let qr = try #require(harness.qrs.last)
        #expect(qr.sequence == 2)
        // Same ref, same deadline (50 s left), new secret in field 4 only.
        #expect(qr.expiresAt == first.expiresAt)
        let before = try PairingQR.parse(first.code).qr
        let after = try PairingQR.parse(qr.code).qr
        #expect(after.ref == before.ref)
        #expect(after.noisePublicKey == before.noisePublicKey && after.identityPublicKey == before.identityPublicKey)
        #expect(after.advSecret != before.advSecret)
        #expect(harness.machine.credentials.advSecretKey == after.advSecret)
        #expect(harness.machine.currentQR == qr.code)
        // The rotation timer was not restarted.
        #expect(!actions.contains { if case .startTimer(let timer, _) = $0 { timer.kind == .qrRotation } else { false } })
        #expect(harness.timers[.qrRotation]?.due == .seconds(60))
        // The ack: id, to the server, type and class.
        let ack = try #require(Harness.sent(actions).last)
        #expect(ack.tag == "ack")
        #expect(ack["id"] == "rr-1")
        #expect(ack["class"] == "notification")
        #expect(ack["type"] == "companion_reg_refresh")
        #expect(ack.jid("to") == .serverJID)

        // The next ref is rendered with the new secret too.
        harness.fire(.qrRotation)
        #expect(try PairingQR.parse(harness.qrs.last!.code).qr.advSecret == after.advSecret)
    }

    @Test func regRefreshWithoutAKnownChildIsOnlyAcked() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let actions = harness.receive(TestPrimary.notification(type: "companion_reg_refresh", id: "rr", [BinaryNode("other")]))
        #expect(Harness.sent(actions).map(\.tag) == ["ack"])
        #expect(harness.qrs.count == 1)
        #expect(harness.machine.credentials.advSecretKey == harness.initialCredentials.advSecretKey)
    }

    @Test func regRefreshBeforeRefsRotatesWithoutAQR() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(TestPrimary.regRefresh())
        #expect(harness.qrs.isEmpty)
        #expect(harness.machine.credentials.advSecretKey != harness.initialCredentials.advSecretKey)
        // The first QR then shows the new secret.
        harness.receive(primary.pairDevice())
        #expect(try! PairingQR.parse(harness.qrs[0].code).qr.advSecret == harness.machine.credentials.advSecretKey)
    }

    @Test func pairSuccessKeyedWithTheRetiredSecretIsAnHMACMismatch() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.receive(TestPrimary.regRefresh())
        // The phone scanned the QR from before the rotation.
        let actions = harness.receive(primary.validPairSuccess(for: harness.initialCredentials))
        let reply = try #require(Harness.sent(actions).first)
        #expect(reply.tag == "iq" && reply["type"] == "error" && reply["id"] == "ps-1")
        #expect(reply.child(named: "error")?["code"] == "401")
        #expect(reply.child(named: "error")?["text"] == "hmac-mismatch")
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .hmacMismatch)
        #expect(harness.terminalEvents.count == 1 && harness.closes == 1 && harness.finished)
    }

    @Test func pairSuccessWithTheRotatedSecretIsAccepted() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.receive(TestPrimary.regRefresh())
        let actions = harness.receive(primary.validPairSuccess(for: harness.machine.credentials))
        #expect(Harness.sent(actions).first?.child(named: "pair-device-sign") != nil)
        #expect(harness.terminalEvents.isEmpty)
        // Once paired, refreshes are acked and ignored.
        let secret = harness.machine.credentials.advSecretKey
        let refresh = harness.receive(TestPrimary.regRefresh(id: "rr-2"))
        #expect(Harness.sent(refresh).map(\.tag) == ["ack"])
        #expect(harness.machine.credentials.advSecretKey == secret)
        #expect(harness.qrs.count == 2)
    }

    @Test func passkeyRequestKeepsTheConnectionUpAfterTheRefs() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice(refs: ["2@one"]))
        let request = TestPrimary.notification(
            type: "passkey_prologue_request", id: "pk-1",
            [
                BinaryNode("passkey_request_options", [:], .bytes(Array(#"{"rpId":"whatsapp.com"}"#.utf8)))
            ])
        let actions = harness.receive(request)
        #expect(Harness.events(actions) == [.awaitingPasskey])
        #expect(Harness.sent(actions).map(\.tag) == ["ack"])
        // A repeat is acked but not reported twice.
        harness.receive(request)
        #expect(harness.events.filter { $0 == .awaitingPasskey }.count == 1)

        harness.fire(.qrRotation)
        #expect(harness.terminalEvents.isEmpty)
        #expect(harness.machine.currentQR == nil)
        #expect(harness.timers[.passkey]?.due == .seconds(600))
        harness.fire(.passkey)
        #expect(harness.terminalEvents == [.timeout])
    }

    @Test func keepAlivePingsAndDeclaresTheConnectionLostAfterMissedAnswers() throws {
        var harness = Harness()
        harness.openRegistration()
        let due = try #require(harness.timers[.keepAlive]?.due)
        #expect(due >= .seconds(20) && due <= .seconds(30))

        let firstFired = harness.fire(.keepAlive)

        let first = try #require(firstFired)
        let ping = try #require(Harness.sent(first).first)
        #expect(ping.tag == "iq" && ping["xmlns"] == "w:p" && ping["type"] == "get" && ping.jid("to") == .serverJID)
        #expect(ping.children.isEmpty)
        // Answered: no miss.
        harness.receive(TestPrimary.result(id: ping["id"]!))
        harness.fire(.keepAlive)
        // Unanswered, but other traffic arrived: still alive.
        harness.receive(TestPrimary.notification(type: "devices", id: "x", []))
        harness.fire(.keepAlive)
        #expect(harness.terminalEvents.isEmpty)
        // Three silent intervals.
        harness.fire(.keepAlive)
        harness.fire(.keepAlive)
        #expect(harness.terminalEvents.isEmpty)
        harness.fire(.keepAlive)
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .connectionLost)
        #expect(harness.closes == 1)
    }

    @Test func notificationsReceiptsAndServerPingsAreAnswered() throws {
        var harness = Harness()
        harness.openRegistration()
        let notification = BinaryNode(
            "notification",
            [
                "from": .jid(.serverJID), "type": "devices", "id": "n-9", "participant": .jid(JID("1@s.whatsapp.net")!),
            ])
        let ack = try #require(Harness.sent(harness.receive(notification)).first)
        #expect(
            ack
                == BinaryNode(
                    "ack",
                    [
                        "id": "n-9", "to": .jid(.serverJID), "type": "devices", "class": "notification",
                        "participant": .jid(JID("1@s.whatsapp.net")!),
                    ]))
        let receipt = try #require(Harness.sent(harness.receive(BinaryNode("receipt", ["from": .jid(.serverJID), "id": "r1"]))).first)
        #expect(receipt["class"] == "receipt" && receipt["id"] == "r1")
        let serverPing = BinaryNode("iq", ["from": .jid(.serverJID), "type": "get", "xmlns": "urn:xmpp:ping", "id": "sp"])
        let pong = try #require(Harness.sent(harness.receive(serverPing)).first)
        #expect(pong == BinaryNode("iq", ["id": "sp", "type": "result", "to": .jid(.serverJID)]))
        #expect(harness.receive(BinaryNode("ib", [:], [BinaryNode("downgrade_webclient")])).isEmpty)
    }

    @Test func successBeforePairingIsIgnored() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        #expect(harness.receive(TestPrimary.success()).isEmpty)
        #expect(harness.terminalEvents.isEmpty)
    }

    @Test func staleTimersAndOtherConnectionsAreIgnored() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let old = try #require(harness.timers[.qrRotation]?.timer)
        harness.receive(primary.pairDevice(id: "pd-2"))
        // The new pair-device restarted the rotation: the old timer is stale.
        #expect(harness.feed(.timerFired(old)).isEmpty)
        #expect(harness.feed(.received(harness.connection + 5, TestPrimary.success())).isEmpty)
        #expect(harness.feed(.connectionClosed(harness.connection + 5, nil)).isEmpty)
        #expect(harness.terminalEvents.isEmpty)
    }

    @Test func cancelClosesWithoutAnEvent() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.feed(.cancel)
        #expect(harness.terminalEvents.isEmpty)
        #expect(harness.closes == 1 && harness.finished)
        #expect(harness.timers.isEmpty)
        let late = harness.feed(.requestPairingCode(1, try! PhoneNumber(validating: "15550001111"), showPushNotification: true))
        guard case .answerCodeRequest(1, .failure(let error)) = late.first else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .sessionEnded)
    }
}
