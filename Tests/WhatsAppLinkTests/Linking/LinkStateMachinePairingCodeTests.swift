import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

@Suite struct LinkStateMachinePairingCodeTests {
    let primary = TestPrimary()
    let phone = try! PhoneNumber(validating: "15550001111")
    let ref: [UInt8] = Array("REF-CODE-1".utf8)

    /// Registered, refs shown, code requested (id 1) and accepted by the server; returns the code.
    func withLiveCode(_ harness: inout Harness) throws -> (PairingCode, BinaryNode) {
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let actions = harness.feed(.requestPairingCode(1, phone, showPushNotification: true))
        let hello = try #require(Harness.sent(actions).first)
        harness.receive(TestPrimary.codeAccepted(id: hello["id"]!, ref: ref))
        guard case .success(let code)? = harness.answers[1] else {
            Issue.record("no code")
            throw TestServerError.unexpected("no code")
        }
        return (code, hello)
    }

    @Test func companionHelloHasWhatsmeowsShapeAndTheCodeComesWithTheRef() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let actions = harness.feed(.requestPairingCode(1, phone, showPushNotification: false))
        #expect(harness.answers[1] == nil, "no code before the server accepted it")
        let hello = try #require(Harness.sent(actions).first)
        #expect(hello.tag == "iq" && hello["type"] == "set" && hello["xmlns"] == "md" && hello.jid("to") == .serverJID)
        let body = try #require(hello.child(named: "link_code_companion_reg"))
        #expect(body["stage"] == "companion_hello")
        #expect(body["should_show_push_notification"] == "false")
        #expect(body.jid("jid") == JID(user: "15550001111", server: JID.Server.whatsApp))
        #expect(
            body.children.map(\.tag) == [
                "link_code_pairing_wrapped_companion_ephemeral_pub", "companion_server_auth_key_pub", "companion_platform_id",
                "companion_platform_display", "link_code_pairing_nonce",
            ])
        #expect(body.children[0].contentBytes?.count == 80)
        #expect(body.children[1].contentBytes == harness.initialCredentials.noiseKey.publicKey)
        #expect(body.children[2].contentString == "1")
        #expect(body.children[3].contentString == "Chrome (Linux)")
        #expect(body.children[4].content == .bytes([0]))
        #expect(harness.timers[.iq(hello["id"]!)] != nil)

        harness.receive(TestPrimary.codeAccepted(id: hello["id"]!, ref: ref))
        guard case .success(let code)? = harness.answers[1] else {
            Issue.record("no code")
            return
        }
        // The wrapped key opens with the returned code (what the phone does).
        let unwrapped = try PairingCodeCrypto.unwrapEphemeralKey(body.children[0].contentBytes!, code: code)
        #expect(unwrapped.count == 32)
        #expect(harness.timers[.pairingCode]?.due == harness.elapsed + .seconds(180))
        #expect(harness.timers[.codeRequest(1)] == nil)
    }

    @Test func requestBeforeTheRefsWaitsForPairDevice() throws {
        var harness = Harness()
        harness.feed(.start)
        #expect(Harness.sent(harness.feed(.requestPairingCode(1, phone, showPushNotification: true))).isEmpty)
        harness.feed(.connectionOpened(harness.connection))
        #expect(harness.sent.isEmpty)
        let actions = harness.receive(primary.pairDevice())
        #expect(Harness.sent(actions).map(\.tag) == ["iq", "iq"])
        #expect(Harness.sent(actions)[1].child(named: "link_code_companion_reg")?["should_show_push_notification"] == "true")
    }

    @Test func requestThatNeverGetsReadyTimesOut() throws {
        var harness = Harness()
        harness.feed(.start)
        harness.feed(.requestPairingCode(3, phone, showPushNotification: true))
        try #require(harness.fire(.codeRequest(3)) != nil)
        guard case .failure(let error)? = harness.answers[3] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .timeout)
    }

    @Test func aSecondRequestGetsTheLiveCodeAndAnotherNumberIsRefused() throws {
        var harness = Harness()
        let (code, _) = try withLiveCode(&harness)
        let sentBefore = harness.sent.count
        harness.feed(.requestPairingCode(2, phone, showPushNotification: true))
        #expect(harness.answers[2] == .success(code))
        #expect(harness.sent.count == sentBefore, "no second companion_hello")

        harness.feed(.requestPairingCode(3, try PhoneNumber(validating: "447700900123"), showPushNotification: true))
        guard case .failure(let error)? = harness.answers[3] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .numberConflict)
    }

    @Test func requestsWhileTheHelloIsInFlightShareTheAnswer() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let hello = try #require(Harness.sent(harness.feed(.requestPairingCode(1, phone, showPushNotification: true))).first)
        #expect(Harness.sent(harness.feed(.requestPairingCode(2, phone, showPushNotification: true))).isEmpty)
        harness.receive(TestPrimary.codeAccepted(id: hello["id"]!, ref: ref))
        #expect(harness.answers[1] != nil && harness.answers[1] == harness.answers[2])
    }

    @Test(arguments: [
        (429, "rate-overlimit", 30 as Int?, LinkError.Code.rateLimited),
        (429, "rate-overlimit", nil, .rateLimited),
        (452, "feature-not-available", nil, .featureNotAvailable),
        (400, "bad-request", nil, .rejected),
        (403, "forbidden", nil, .rejected),
        (500, "internal-server-error", 5, .rejected),
    ])
    func serverRefusalsMapToSpecificErrors(code: Int, text: String, backoff: Int?, expected: LinkError.Code) throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let hello = try #require(Harness.sent(harness.feed(.requestPairingCode(1, phone, showPushNotification: true))).first)
        harness.receive(TestPrimary.error(id: hello["id"]!, code: code, text: text, backoff: backoff))
        guard case .failure(let error)? = harness.answers[1] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == expected)
        #expect(error.serverCode == code)
        #expect(error.serverText == text)
        #expect(error.retryAfter == backoff.map { .seconds($0) })
        #expect(harness.terminalEvents.isEmpty, "a refused code does not end the QR session")
        // A later request mints a new code.
        let again = harness.feed(.requestPairingCode(2, phone, showPushNotification: true))
        #expect(Harness.sent(again).first?.child(named: "link_code_companion_reg")?["stage"] == "companion_hello")
    }

    @Test func helloWithoutAnAnswerTimesOut() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let hello = try #require(Harness.sent(harness.feed(.requestPairingCode(1, phone, showPushNotification: true))).first)
        harness.fire(.iq(hello["id"]!))
        guard case .failure(let error)? = harness.answers[1] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .timeout)
    }

    @Test func answerWithoutARefIsInvalid() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let hello = try #require(Harness.sent(harness.feed(.requestPairingCode(1, phone, showPushNotification: true))).first)
        harness.receive(TestPrimary.result(id: hello["id"]!))
        guard case .failure(let error)? = harness.answers[1] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .invalidResponse)
    }

    @Test func fullCodeFlowDerivesTheSecretThePhoneDerives() throws {
        var harness = Harness()
        let (code, hello) = try withLiveCode(&harness)
        let wrappedCompanion = hello.child(named: "link_code_companion_reg")!.children[0].contentBytes!
        let (primaryHello, primaryEphemeral) = primary.primaryHello(code: code, ref: ref, id: "n-1")
        let actions = harness.receive(primaryHello)
        let sent = Harness.sent(actions)
        #expect(sent.map(\.tag) == ["ack", "iq"])
        let finish = sent[1]
        let body = try #require(finish.child(named: "link_code_companion_reg"))
        #expect(body["stage"] == "companion_finish")
        #expect(body.jid("jid") == JID(user: "15550001111", server: JID.Server.whatsApp))
        #expect(
            body.children.map(\.tag) == [
                "link_code_pairing_wrapped_key_bundle", "companion_identity_public", "link_code_pairing_ref",
            ])
        #expect(body.children[0].contentBytes?.count == 156)
        #expect(body.children[1].contentBytes == harness.initialCredentials.identityKey.publicKey)
        #expect(body.children[2].contentBytes == ref)
        #expect(
            sent[0]
                == BinaryNode(
                    "ack",
                    [
                        "id": "n-1", "to": .jid(.serverJID), "type": "link_code_companion_reg", "class": "notification",
                    ]))

        // The phone opens the bundle and derives the same adv secret the companion now holds.
        let phoneSide = try PairingCodeCrypto.primaryFinish(
            code: code, primaryEphemeral: primaryEphemeral, primaryIdentity: primary.identity,
            wrappedCompanionEphemeral: wrappedCompanion, wrappedKeyBundle: body.children[0].contentBytes!)
        #expect(phoneSide.advSecret == harness.machine.credentials.advSecretKey)
        #expect(phoneSide.advSecret != harness.initialCredentials.advSecretKey)

        // A refresh now is dropped (pair-success pending).
        harness.receive(TestPrimary.regRefresh())
        #expect(harness.machine.credentials.advSecretKey == phoneSide.advSecret)

        harness.receive(TestPrimary.result(id: finish["id"]!))
        let success = harness.receive(primary.validPairSuccess(for: harness.machine.credentials))
        #expect(Harness.sent(success).first?.child(named: "pair-device-sign") != nil)
        #expect(harness.terminalEvents.isEmpty)
    }

    @Test func primaryHelloForAnotherRefIsDropped() throws {
        var harness = Harness()
        let (code, _) = try withLiveCode(&harness)
        let (hello, _) = primary.primaryHello(code: code, ref: Array("OTHER".utf8))
        #expect(Harness.sent(harness.receive(hello)).map(\.tag) == ["ack"])
        #expect(harness.machine.credentials.advSecretKey == harness.initialCredentials.advSecretKey)
    }

    @Test func primaryHelloWithoutACodeIsDropped() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let (hello, _) = primary.primaryHello(code: try! PairingCode(parsing: "ABCD-EFGH"), ref: ref)
        #expect(Harness.sent(harness.receive(hello)).map(\.tag) == ["ack"])
    }

    @Test func linkCodeNotificationWithoutStageTwoDataIsOnlyAcked() throws {
        var harness = Harness()
        _ = try withLiveCode(&harness)
        let node = TestPrimary.notification(
            type: "link_code_companion_reg",
            [
                BinaryNode(
                    "link_code_companion_reg", ["stage": "primary_hello"],
                    [
                        BinaryNode("link_code_pairing_ref", [:], .bytes(ref))
                    ])
            ])
        #expect(Harness.sent(harness.receive(node)).map(\.tag) == ["ack"])
        #expect(harness.terminalEvents.isEmpty)
    }

    @Test func atMostThreePrimaryHellosPerCode() throws {
        var harness = Harness()
        let (code, _) = try withLiveCode(&harness)
        for attempt in 1...4 {
            let (hello, _) = primary.primaryHello(code: code, ref: ref, id: "n-\(attempt)")
            let tags = Harness.sent(harness.receive(hello)).map(\.tag)
            #expect(tags == (attempt <= 3 ? ["ack", "iq"] : ["ack"]), "attempt \(attempt)")
        }
    }

    @Test func refreshCodeForTheLiveRefRetiresIt() throws {
        var harness = Harness()
        let (code, _) = try withLiveCode(&harness)
        let refresh = TestPrimary.notification(
            type: "link_code_companion_reg", id: "n-7",
            [
                BinaryNode(
                    "link_code_companion_reg", ["stage": "refresh_code", "force_manual_refresh": "true"],
                    [
                        BinaryNode("link_code_pairing_ref", [:], .bytes(ref))
                    ])
            ])
        let actions = harness.receive(refresh)
        #expect(Harness.events(actions) == [.pairingCodeExpired])
        #expect(Harness.sent(actions).last?["type"] == "link_code_companion_reg")
        // A new request mints a new code.
        let again = try #require(Harness.sent(harness.feed(.requestPairingCode(2, phone, showPushNotification: true))).first)
        harness.receive(TestPrimary.codeAccepted(id: again["id"]!, ref: Array("REF-2".utf8)))
        guard case .success(let second)? = harness.answers[2] else {
            Issue.record("no code")
            return
        }
        #expect(second != code)
    }

    @Test func refreshCodeForAnotherRefIsIgnored() throws {
        var harness = Harness()
        _ = try withLiveCode(&harness)
        let refresh = TestPrimary.notification(
            type: "link_code_companion_reg",
            [
                BinaryNode(
                    "link_code_companion_reg", ["stage": "refresh_code"],
                    [
                        BinaryNode("link_code_pairing_ref", [:], .bytes(Array("nope".utf8)))
                    ])
            ])
        #expect(Harness.events(harness.receive(refresh)).isEmpty)
    }

    @Test func refusedCompanionFinishRetiresTheCodeAndItsSecret() throws {
        var harness = Harness()
        let (code, _) = try withLiveCode(&harness)
        let (hello, _) = primary.primaryHello(code: code, ref: ref)
        let finish = try #require(Harness.sent(harness.receive(hello)).last)
        let derived = harness.machine.credentials.advSecretKey
        let qrsBefore = harness.qrs.count

        let actions = harness.receive(TestPrimary.error(id: finish["id"]!, code: 400, text: "bad-request"))
        #expect(Harness.events(actions).contains(.pairingCodeExpired))
        // A fresh random secret replaces the derived one, and the QR shows it.
        let fresh = harness.machine.credentials.advSecretKey
        #expect(fresh != derived && fresh != harness.initialCredentials.advSecretKey)
        #expect(harness.qrs.count == qrsBefore + 1)
        #expect(try PairingQR.parse(harness.qrs.last!.code).qr.advSecret == fresh)
        // Refreshes work again.
        harness.receive(TestPrimary.regRefresh())
        #expect(harness.machine.credentials.advSecretKey != fresh)
    }

    @Test func noPairSuccessAfterPrimaryHelloRetiresTheCode() throws {
        var harness = Harness()
        let (code, _) = try withLiveCode(&harness)
        let (hello, _) = primary.primaryHello(code: code, ref: ref)
        let finish = try #require(Harness.sent(harness.receive(hello)).last)
        harness.receive(TestPrimary.result(id: finish["id"]!))
        let derived = harness.machine.credentials.advSecretKey
        #expect(harness.timers[.pairingCodeStage2] != nil)
        // The code's own lifetime does not cut a stage-2 exchange short.
        #expect(Harness.events(harness.fire(.pairingCode) ?? []).isEmpty)
        let actionsFired = harness.fire(.pairingCodeStage2)
        let actions = try #require(actionsFired)
        #expect(Harness.events(actions).contains(.pairingCodeExpired))
        #expect(harness.machine.credentials.advSecretKey != derived)
    }

    @Test func expiredCodeAfterTheRefsEndsTheRunWithTimeout() throws {
        var harness = Harness()
        _ = try withLiveCode(&harness)
        for _ in 0..<6 { harness.fire(.qrRotation) }
        #expect(harness.terminalEvents.isEmpty, "the outstanding code keeps the connection up")
        #expect(harness.machine.currentQR == nil)
        let actionsFired = harness.fire(.pairingCode)
        let actions = try #require(actionsFired)
        #expect(Harness.events(actions) == [.pairingCodeExpired, .timeout])
        #expect(harness.finished)
    }

    @Test func requestAfterPairSuccessIsAlreadyPaired() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.receive(primary.validPairSuccess(for: harness.initialCredentials))
        harness.feed(.requestPairingCode(1, phone, showPushNotification: true))
        guard case .failure(let error)? = harness.answers[1] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .alreadyPaired)
    }

    @Test func waitingRequestsAreAnsweredWhenTheRunEnds() throws {
        var harness = Harness()
        harness.feed(.start)
        harness.feed(.requestPairingCode(1, phone, showPushNotification: true))
        harness.feed(.connectionFailed(harness.connection, WhatsAppConnectionError(.handshakeTimeout)))
        guard case .failure(let error)? = harness.answers[1] else {
            Issue.record("no answer")
            return
        }
        #expect(error.code == .sessionEnded)
        harness.feed(.abandonPairingCodeRequest(1))
    }

    @Test func abandonedRequestIsForgotten() throws {
        var harness = Harness()
        harness.feed(.start)
        harness.feed(.requestPairingCode(1, phone, showPushNotification: true))
        harness.feed(.abandonPairingCodeRequest(1))
        harness.feed(.connectionOpened(harness.connection))
        let actions = harness.receive(primary.pairDevice())
        #expect(Harness.sent(actions).map(\.tag) == ["iq"], "no companion_hello for an abandoned request")
    }
}
