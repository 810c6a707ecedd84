import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppSimulator

@Suite struct ServerSessionRegistrationTests {
    /// Registration: `pair-device` from the server JID with the configured number of ASCII `2@` refs, the
    /// ref window scheduled, the companion registered; the companion's ack is absorbed; pings answered.
    @Test func pairDevice() throws {
        var loopback = Loopback(settings: .init(refsCount: 4, firstRefLifetime: .seconds(60), laterRefLifetime: .seconds(20)))
        try loopback.connect(payload: loopback.companion.registrationPayload)
        #expect(loopback.registered?.noiseKey == loopback.companion.credentials.noiseKey.publicKey)
        #expect(loopback.refsExpiry == .seconds(120))
        let pairDevice = try loopback.take()
        #expect(pairDevice.tag == "iq")
        #expect(pairDevice.attributes["from"] == .jid(.serverJID))
        #expect(pairDevice["type"] == "set")
        #expect(pairDevice["xmlns"] == "md")
        let refs = CompanionLogic.refs(pairDevice)
        #expect(refs.count == 4)
        #expect(Set(refs).count == 4)
        #expect(refs.allSatisfy { $0.hasPrefix("2@") && $0.utf8.allSatisfy { $0 < 0x80 } })
        #expect(pairDevice.child(named: "pair-device")?.children.allSatisfy { if case .bytes = $0.content { true } else { false } } == true)

        try loopback.send(CompanionLogic.ack(iq: pairDevice))
        #expect(loopback.inbox.isEmpty)

        try loopback.send(BinaryNode("iq", ["id": "p1", "to": .jid(.serverJID), "type": "get", "xmlns": "w:p"]))
        let pong = try loopback.take()
        #expect(pong == ServerStanzas.result(id: "p1"))
        #expect(!loopback.closed)
    }

    /// QR scan to pair-success: the companion verifies it with `PairSuccessCrypto.verify` (HMAC with the
    /// QR's secret, the phone's account signature), replies `pair-device-sign`; the phone verifies the
    /// device signature and the key index, then 515; the socket is left for the companion to close.
    @Test func qrPairing() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[2]))

        let pairSuccess = try loopback.take()
        #expect(pairSuccess["xmlns"] == "md")
        #expect(pairSuccess["type"] == "set")
        #expect(pairSuccess["t"] != nil)
        let body = try #require(pairSuccess.child(named: "pair-success"))
        #expect(body.children.map(\.tag) == ["device-identity", "platform", "device", "client-props"])
        #expect(body.child(named: "platform")?["name"] == "android")
        let device = try #require(body.child(named: "device"))
        #expect(device.attributes["jid"] == .jid(JID(user: "15550001111", device: 3, server: "s.whatsapp.net")))
        #expect(device.attributes["lid"] == .jid(JID(user: "99887766", device: 3, server: "lid")))

        let (reply, result) = loopback.companion.answer(pairSuccess: pairSuccess)
        let verified = try result.get()
        #expect(verified.account.primaryIdentityPublicKey == Loopback.phone.identity.publicKey)
        #expect(verified.account.keyIndex == 7)
        #expect(verified.account.rawID == 4242)
        #expect(loopback.results.isEmpty)
        try loopback.send(reply)

        #expect(try loopback.take() == ServerStanzas.streamError(code: 515))
        // WhatsApp does not close after the 515: the companion does, within the configured bound.
        #expect(!loopback.closed)
        #expect(loopback.clientCloseBound == .seconds(10))
        guard case .paired(let record) = try #require(loopback.results.first) else {
            Issue.record("not paired: \(loopback.results)")
            return
        }
        #expect(record.device.jid == "15550001111:3@s.whatsapp.net")
        #expect(record.device.lid == "99887766:3@lid")
        #expect(record.device.method == .qr)
        #expect(record.noiseKey == loopback.companion.credentials.noiseKey.publicKey)
        #expect(record.identityKey == loopback.companion.credentials.identityKey.publicKey)
    }

    /// After the 515 the session waits for the companion to close: it still answers stanzas, the refs
    /// running out does not close it, and the shell is given the configured bound.
    @Test func afterTheRestartTheConnectionIsTheCompanionsToClose() throws {
        var loopback = Loopback(settings: .init(refsCount: 6, restartCloseTimeout: .seconds(3)))
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]))
        let (reply, result) = loopback.companion.answer(pairSuccess: try loopback.take())
        _ = try result.get()
        try loopback.send(reply)
        #expect(try loopback.take() == ServerStanzas.streamError(code: 515))
        #expect(loopback.clientCloseBound == .seconds(3))

        try loopback.send(BinaryNode("iq", ["id": "p1", "to": .jid(.serverJID), "type": "get", "xmlns": "w:p"]))
        #expect(try loopback.take() == ServerStanzas.result(id: "p1"))
        loopback.apply(loopback.session.refsExpired())
        #expect(!loopback.closed)
        #expect(loopback.session.connectionClosed().isEmpty)
    }

    /// A QR whose keys are not this connection's, or whose ref it never issued, is refused.
    @Test func qrMismatch() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        let stranger = CompanionLogic()
        loopback.scan(stranger.qr(ref: "2@unknown"))
        loopback.scan(loopback.companion.qr(ref: "2@notissued"))
        #expect(
            loopback.results == [
                .failed(SimulatorError(.qrMismatch)), .failed(SimulatorError(.qrMismatch)),
            ])
        #expect(loopback.inbox.isEmpty)
    }

    /// Business accounts add `<biz name>`.
    @Test func businessName() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        let phone = PhoneIdentity(
            number: "15550002222", identity: .generate(), platform: "smba", businessName: "Acme", lid: "1", rawID: 1)
        loopback.scan(loopback.companion.qr(ref: refs[0]), phone: phone)
        let body = try #require(try loopback.take().child(named: "pair-success"))
        #expect(body.child(named: "biz")?["name"] == "Acme")
        #expect(body.child(named: "platform")?["name"] == "smba")
    }

    /// A reply whose device signature does not verify (or names another key index) fails the phone's
    /// action and closes, without 515.
    @Test func invalidPairDeviceSign() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]))
        let pairSuccess = try loopback.take()
        var (reply, _) = loopback.companion.answer(pairSuccess: pairSuccess)
        var sign = reply.children[0]
        var identity = sign.children[0]
        guard case .bytes(var bytes) = identity.content else {
            Issue.record("no bytes")
            return
        }
        bytes[bytes.count - 1] ^= 1
        identity.content = .bytes(bytes)
        sign.content = .nodes([identity])
        reply.content = .nodes([sign])
        try loopback.send(reply)
        #expect(loopback.results.first == .failed(SimulatorError(.invalidPairDeviceSign, detail: "device signature mismatch")))
        #expect(loopback.closed)
        #expect(loopback.inbox.isEmpty)
    }

    /// Nobody answers: the running action times out and the connection stays.
    @Test func operationTimeout() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]))
        _ = loopback.next()
        loopback.scan(loopback.companion.qr(ref: refs[0]))
        #expect(loopback.results == [.failed(SimulatorError(.busy))])
        loopback.apply(loopback.session.operationTimedOut())
        #expect(loopback.results.last == .failed(SimulatorError(.timeout)))
        #expect(!loopback.closed)
        #expect(loopback.session.operationTimedOut().isEmpty)
    }

    /// When the refs run out the connection closes (option on), later scans fail as expired; with the
    /// option off it stays open.
    @Test(arguments: [true, false])
    func refsExpire(close: Bool) throws {
        var loopback = Loopback(settings: .init(closeWhenRefsExpire: close))
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.apply(loopback.session.refsExpired())
        #expect(loopback.closed == close)
        if !close {
            loopback.scan(loopback.companion.qr(ref: refs[0]))
            #expect(loopback.results == [.failed(SimulatorError(.refExpired))])
        }
    }

    /// Refs running out during a phone action do not close at once; the close follows the action's end.
    @Test func refsExpireDuringAction() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        #expect(loopback.session.closeIfRefsExpired().isEmpty)
        loopback.scan(loopback.companion.qr(ref: refs[0]))
        loopback.apply(loopback.session.refsExpired())
        #expect(!loopback.closed)
        loopback.apply(loopback.session.operationTimedOut())
        #expect(loopback.session.closeIfRefsExpired() == [.close])
    }

    /// Closing with an action running fails it as "connection gone".
    @Test func connectionGone() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]))
        loopback.apply(loopback.session.connectionClosed())
        #expect(loopback.results == [.failed(SimulatorError(.connectionGone))])
    }

    /// Every iq gets an answer: prekey count (then the uploaded number), upload, passive, digest, unknown.
    @Test func iqsAnswered() throws {
        var loopback = Loopback(settings: .init(initialPreKeyCount: 3))
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        let to = BinaryNode.AttributeValue.jid(.serverJID)
        try loopback.send(BinaryNode("iq", ["id": "a", "xmlns": "encrypt", "type": "get", "to": to], [BinaryNode("count")]))
        #expect(try loopback.take().child(named: "count")?["value"] == "3")
        let keys = (0..<5).map { _ in BinaryNode("key", [:], [BinaryNode("id", [:], .bytes([0, 0, 1]))]) }
        try loopback.send(
            BinaryNode(
                "iq", ["id": "b", "xmlns": "encrypt", "type": "set", "to": to],
                [
                    BinaryNode("registration", [:], .bytes([0, 0, 0, 1])), BinaryNode("list", [:], .nodes(keys)),
                ]))
        #expect(try loopback.take() == ServerStanzas.result(id: "b"))
        try loopback.send(BinaryNode("iq", ["id": "c", "xmlns": "encrypt", "type": "get", "to": to], [BinaryNode("count")]))
        #expect(try loopback.take().child(named: "count")?["value"] == "8")
        for (id, xmlns, child) in [("d", "passive", "active"), ("e", "encrypt", "digest"), ("f", "urn:x", "whatever")] {
            try loopback.send(BinaryNode("iq", ["id": .string(id), "xmlns": .string(xmlns), "type": "set", "to": to], [BinaryNode(child)]))
            #expect(try loopback.take() == ServerStanzas.result(id: id))
        }
        try loopback.send(BinaryNode("ib", [:], [BinaryNode("unified_session", ["id": "1"])]))
        #expect(loopback.inbox.isEmpty)
    }
}

@Suite struct ServerSessionFaultTests {
    private func pairSuccessRejected(_ fault: PairSuccessFault, expected: PairSuccessError.Code, detail: String) throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]), faults: ActionFaults(pairSuccess: fault))
        let (reply, result) = loopback.companion.answer(pairSuccess: try loopback.take())
        #expect(throws: PairSuccessError(expected)) { try result.get() }
        try loopback.send(reply)
        #expect(loopback.results == [.failed(SimulatorError(.companionRejected, detail: detail))])
        #expect(!loopback.closed)
    }

    @Test func badHMAC() throws {
        try pairSuccessRejected(.badHMAC, expected: .hmacMismatch, detail: "401 hmac-mismatch")
    }

    @Test func badAccountSignature() throws {
        try pairSuccessRejected(.badAccountSignature, expected: .signatureMismatch, detail: "401 signature-mismatch")
    }

    /// Dropped right after the scan: close, no pair-success.
    @Test func dropAfterScan() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]), faults: ActionFaults(dropAfterScan: true))
        #expect(loopback.closed)
        #expect(loopback.inbox.isEmpty)
        #expect(loopback.results == [.outcome(.connectionDropped)])
    }

    /// `companion_reg_refresh` after the scan: the companion acks and rotates; a scan of the old QR gives a
    /// pair-success it rejects (`401 hmac-mismatch`); a scan of the re-rendered QR pairs.
    @Test func companionRegRefresh() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        let oldQR = loopback.companion.qr(ref: refs[0])
        loopback.scan(oldQR, faults: ActionFaults(companionRegRefresh: true))
        let notification = try loopback.take()
        #expect(notification.tag == "notification")
        #expect(notification["type"] == "companion_reg_refresh")
        #expect(notification.attributes["from"] == .jid(.serverJID))
        #expect(notification.children.map(\.tag) == ["companion_reg_refresh"])
        #expect(loopback.results.isEmpty)
        loopback.companion.refresh()
        try loopback.send(CompanionLogic.ack(notification: notification))
        #expect(loopback.results == [.outcome(.companionRegRefreshSent)])

        loopback.scan(oldQR)
        var (reply, result) = loopback.companion.answer(pairSuccess: try loopback.take())
        #expect(throws: PairSuccessError(.hmacMismatch)) { try result.get() }
        try loopback.send(reply)
        #expect(loopback.results.last == .failed(SimulatorError(.companionRejected, detail: "401 hmac-mismatch")))

        let newQR = loopback.companion.qr(ref: refs[0])
        #expect(newQR != oldQR)
        loopback.scan(newQR)
        (reply, result) = loopback.companion.answer(pairSuccess: try loopback.take())
        _ = try result.get()
        try loopback.send(reply)
        guard case .paired = loopback.results.last else {
            Issue.record("not paired")
            return
        }
    }

    /// The passkey fault: `passkey_prologue_request` with WebAuthn options JSON, acked; no pair-success.
    @Test func passkeyRequest() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        let refs = CompanionLogic.refs(try loopback.take())
        loopback.scan(loopback.companion.qr(ref: refs[0]), faults: ActionFaults(passkeyRequest: true))
        let notification = try loopback.take()
        #expect(notification["type"] == "passkey_prologue_request")
        let options = try #require(notification.child(named: "passkey_request_options")?.contentBytes)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(options)) as? [String: Any])
        #expect(json["rpId"] as? String == "whatsapp.com")
        #expect(json["userVerification"] as? String == "required")
        try loopback.send(CompanionLogic.ack(notification: notification))
        #expect(loopback.results == [.outcome(.passkeyRequestSent)])
        #expect(!loopback.closed)
    }
}

@Suite struct ServerSessionCodeTests {
    static let phone = "15550001111"

    /// The whole code flow: companion_hello accepted with a ref; the phone's primary_hello (ref, wrapped
    /// key, identity); the companion's ack and companion_finish answered with a result; pair-success keyed
    /// with the derived secret verifies; 515.
    @Test func codePairing() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        try loopback.send(loopback.companion.companionHello(phone: Self.phone, id: "h1"))
        let answer = try loopback.take()
        #expect(answer["type"] == "result")
        #expect(answer["id"] == "h1")
        let ref = try #require(answer.child(named: "link_code_companion_reg")?.child(named: "link_code_pairing_ref")?.contentBytes)
        #expect(loopback.acceptedCodePhones == [Self.phone])
        #expect(loopback.session.pendingCodeRequest?.platformDisplay == "Chrome (Linux)")

        try loopback.enterCode(try #require(loopback.companion.code))
        let hello = try loopback.take()
        #expect(hello.tag == "notification")
        #expect(hello["type"] == "link_code_companion_reg")
        let stage = try #require(hello.child(named: "link_code_companion_reg"))
        #expect(stage["stage"] == "primary_hello")
        #expect(stage.child(named: "link_code_pairing_ref")?.contentBytes == ref)
        #expect(stage.child(named: "primary_identity_pub")?.contentBytes == Loopback.phone.identity.publicKey)
        #expect(stage.child(named: "link_code_pairing_wrapped_primary_ephemeral_pub")?.contentBytes?.count == 80)

        try loopback.send(CompanionLogic.ack(notification: hello))
        #expect(loopback.inbox.isEmpty)
        try loopback.send(try loopback.companion.companionFinish(primaryHello: hello, phone: Self.phone, id: "f1"))
        #expect(try loopback.take() == ServerStanzas.result(id: "f1"))
        let pairSuccess = try loopback.take()
        let (reply, result) = loopback.companion.answer(pairSuccess: pairSuccess)
        _ = try result.get()
        try loopback.send(reply)
        #expect(try loopback.take() == ServerStanzas.streamError(code: 515))
        guard case .paired(let record) = try #require(loopback.results.first) else {
            Issue.record("not paired")
            return
        }
        #expect(record.device.method == .code)
        #expect(record.device.deviceID == 4)
    }

    /// A wrong code: the companion's bundle does not open at the phone; the finish is still answered,
    /// the action fails with wrongCode, no pair-success; the request stays for a retry, which pairs.
    @Test func wrongCodeThenRetry() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        try loopback.send(loopback.companion.companionHello(phone: Self.phone, id: "h1"))
        _ = loopback.next()
        let right = try #require(loopback.companion.code)
        let wrong = try PairingCode(parsing: right.characters == "AAAAAAAA" ? "BBBBBBBB" : "AAAAAAAA")
        try loopback.enterCode(wrong)
        let hello = try loopback.take()
        try loopback.send(try loopback.companion.companionFinish(primaryHello: hello, phone: Self.phone, id: "f1"))
        #expect(try loopback.take() == ServerStanzas.result(id: "f1"))
        #expect(loopback.inbox.isEmpty)
        #expect(loopback.results == [.failed(SimulatorError(.wrongCode))])
        #expect(loopback.session.pendingCodeRequest != nil)

        // The companion retires its stage-2 secret and the user types the right code.
        try loopback.companion.adv.retirePairCode(newSecret: loopback.companion.random(32))
        try loopback.enterCode(right)
        let second = try loopback.take()
        try loopback.send(try loopback.companion.companionFinish(primaryHello: second, phone: Self.phone, id: "f2"))
        #expect(try loopback.take() == ServerStanzas.result(id: "f2"))
        let (reply, result) = loopback.companion.answer(pairSuccess: try loopback.take())
        _ = try result.get()
        try loopback.send(reply)
        guard case .paired = loopback.results.last else {
            Issue.record("not paired")
            return
        }
    }

    /// companion_hello is refused with 400 for a bad display string, a wrong auth key, a short wrapped key
    /// or a bad phone; nothing becomes pending.
    @Test(arguments: [
        ("Chrome (Linux)", true, 80, "1555"),
        ("Chrome Linux", true, 80, ServerSessionCodeTests.phone),
        ("Chrome (Plan9)", true, 80, ServerSessionCodeTests.phone),
        ("Netscape (Linux)", true, 80, ServerSessionCodeTests.phone),
        ("Chrome (Linux)", false, 80, ServerSessionCodeTests.phone),
        ("Chrome (Linux)", true, 79, ServerSessionCodeTests.phone),
    ])
    func badCompanionHello(display: String, rightKey: Bool, wrappedLength: Int, phone: String) throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        try loopback.send(
            loopback.companion.companionHello(
                phone: phone, id: "h1", display: display, authKey: rightKey ? nil : KeyPair.generate().publicKey,
                wrappedLength: wrappedLength))
        let answer = try loopback.take()
        #expect(answer["type"] == "error")
        #expect(answer.child(named: "error")?["code"] == "400")
        #expect(answer.child(named: "error")?["text"] == "bad-request")
        #expect(loopback.codeRequests.isEmpty)
        #expect(loopback.session.pendingCodeRequest == nil)
    }

    /// Injected refusals: 429 rate-overlimit with backoff, 400 bad-request.
    @Test(arguments: [CompanionHelloRefusal.rateOverlimit(backoffSeconds: 45), .badRequest])
    func refusal(_ refusal: CompanionHelloRefusal) throws {
        var loopback = Loopback()
        loopback.refusal = refusal
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        try loopback.send(loopback.companion.companionHello(phone: Self.phone, id: "h1"))
        let answer = try loopback.take()
        #expect(answer == ServerStanzas.error(id: "h1", code: refusal.code, text: refusal.text, backoffSeconds: refusal.backoffSeconds))
        #expect(answer.child(named: "error")?["backoff"] == refusal.backoffSeconds.map(String.init))
        #expect(loopback.acceptedCodePhones.isEmpty)
        #expect(loopback.session.pendingCodeRequest == nil)
        try loopback.enterCode(try #require(loopback.companion.code))
        #expect(loopback.results == [.failed(SimulatorError(.noPendingCodeRequest))])
    }

    /// A pending code keeps the connection open when the refs run out.
    @Test func pendingCodeKeepsConnection() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        try loopback.send(loopback.companion.companionHello(phone: Self.phone, id: "h1"))
        loopback.apply(loopback.session.refsExpired())
        #expect(!loopback.closed)
    }

    /// companion_finish without a primary_hello is a bad request.
    @Test func unexpectedFinish() throws {
        var loopback = Loopback()
        try loopback.connect(payload: loopback.companion.registrationPayload)
        _ = loopback.next()
        let finish = BinaryNode(
            "iq", ["id": "f", "xmlns": "md", "type": "set"],
            [
                BinaryNode("link_code_companion_reg", ["stage": "companion_finish"])
            ])
        try loopback.send(finish)
        #expect(try loopback.take().child(named: "error")?["code"] == "400")
    }

    @Test func displayRule() {
        #expect(ServerSession.isValidDisplay("Chrome (Linux)"))
        #expect(ServerSession.isValidDisplay("Firefox (Mac OS)"))
        #expect(ServerSession.isValidDisplay("Edge (Windows)"))
        #expect(!ServerSession.isValidDisplay("Chrome(Linux)"))
        #expect(!ServerSession.isValidDisplay("Chrome (linux)"))
        #expect(!ServerSession.isValidDisplay("walink (Linux)"))
        #expect(ServerSession.isValidPlatformID("e"))
        #expect(!ServerSession.isValidPlatformID("x"))
    }
}

@Suite struct ServerSessionLoginTests {
    private func record(for companion: CompanionLogic, jid: String = "15550001111:3@s.whatsapp.net") -> PairingRecord {
        PairingRecord(
            device: PairedDevice(
                phoneNumber: "15550001111", deviceID: 3, jid: jid, lid: "99887766:3@lid", companionName: "Linux",
                method: .qr, pairedAt: Date(timeIntervalSince1970: 1_700_000_000), loginCount: 0, lastLoginAt: nil,
                isConnected: false),
            noiseKey: companion.credentials.noiseKey.publicKey, identityKey: companion.credentials.identityKey.publicKey)
    }

    /// A known device with its recorded Noise key gets `<success t lid …>` (typed LID) and is logged in.
    @Test func success() throws {
        let companion = CompanionLogic()
        var loopback = Loopback(companion: companion)
        let jid = try #require(JID("15550001111:3@s.whatsapp.net"))
        try loopback.connect(payload: CompanionLogic.loginPayload(jid: jid), known: record(for: companion))
        let success = try loopback.take()
        #expect(success.tag == "success")
        #expect(success.attributes["lid"] == .jid(JID(user: "99887766", device: 3, server: "lid")))
        #expect(success["t"] != nil)
        #expect(success["creation"] == "1700000000")
        #expect(loopback.logins == ["15550001111:3@s.whatsapp.net"])
        #expect(!loopback.closed)
    }

    /// Unknown device, or another Noise key than at pairing: `<failure reason=401>` and close.
    @Test(arguments: [false, true])
    func unknown(known: Bool) throws {
        let companion = CompanionLogic()
        var loopback = Loopback(companion: companion)
        let jid = try #require(JID("15550001111:3@s.whatsapp.net"))
        try loopback.connect(
            payload: CompanionLogic.loginPayload(jid: jid), known: known ? record(for: CompanionLogic()) : nil)
        let failure = try loopback.take()
        #expect(failure.tag == "failure")
        #expect(failure["reason"] == "401")
        #expect(loopback.closed)
        #expect(loopback.logins.isEmpty)
    }
}

@Suite struct FaultBookTests {
    /// Phone rules beat connection rules beat global ones; phone and connection fields are consumed when
    /// they fire, global ones stay; next-connection entries queue.
    @Test func scopes() {
        var book = FaultBook()
        book.set(SimulatorFaults(pairSuccess: .badHMAC), for: .global)
        book.set(SimulatorFaults(pairSuccess: .badAccountSignature, dropAfterScan: true), for: .phone("1555"))
        book.set(SimulatorFaults(dropAfterScan: true), for: .nextConnection)
        book.set(SimulatorFaults(wrongRootKey: true), for: .nextConnection)

        var first = book.takeConnectionFaults()
        var second = book.takeConnectionFaults()
        var third = book.takeConnectionFaults()
        #expect(first.dropAfterScan == true)
        #expect(second.wrongRootKey == true)
        #expect(third.isEmpty)

        #expect(book.take(\.pairSuccess, phone: "1555", connection: &first) == .badAccountSignature)
        #expect(book.take(\.pairSuccess, phone: "1555", connection: &first) == .badHMAC)
        #expect(book.take(\.dropAfterScan, phone: "1555", connection: &first) == true)
        #expect(book.byPhone["1555"] == nil)
        #expect(book.take(\.dropAfterScan, phone: "1555", connection: &first) == true)
        #expect(first.dropAfterScan == nil)
        #expect(book.take(\.dropAfterScan, phone: nil, connection: &first) == nil)
        #expect(book.take(\.wrongRootKey, phone: nil, connection: &second) == true)
        #expect(book.take(\.wrongRootKey, phone: nil, connection: &second) == nil)
        #expect(book.take(\.pairSuccess, phone: "other", connection: &third) == .badHMAC)
        book.clear()
        #expect(book.take(\.pairSuccess, phone: "other", connection: &third) == nil)
    }

    /// Phone state: device ids are the lowest free ones, key indexes count up, released ids come back.
    @Test func deviceAssignment() throws {
        var state = SimulatorState()
        _ = try state.phone("15550001111")
        let a = state.assignDevice(phone: "15550001111")
        let b = state.assignDevice(phone: "15550001111")
        #expect(a == DeviceAssignment(device: 1, keyIndex: 1))
        #expect(b == DeviceAssignment(device: 2, keyIndex: 2))
        state.releaseDevice(phone: "15550001111", a)
        #expect(state.assignDevice(phone: "15550001111") == DeviceAssignment(device: 1, keyIndex: 3))
    }
}

@Suite struct DeviceLimitTests {
    /// With all 255 device ids of a phone taken, the oldest device is unlinked and its id reused.
    @Test func evictsOldest() throws {
        var state = SimulatorState()
        _ = try state.phone("15550001111")
        for index in 0..<255 {
            let assignment = state.assignDevice(phone: "15550001111")
            let jid = JID(user: "15550001111", device: assignment.device, server: "s.whatsapp.net").description
            state.recordPairing(
                PairingRecord(
                    device: PairedDevice(
                        phoneNumber: "15550001111", deviceID: assignment.device, jid: jid, lid: "1:\(assignment.device)@lid",
                        companionName: "", method: .qr, pairedAt: Date(timeIntervalSince1970: Double(1000 + index)),
                        loginCount: 0, lastLoginAt: nil, isConnected: false),
                    noiseKey: [], identityKey: []))
        }
        #expect(state.devices.count == 255)
        let next = state.assignDevice(phone: "15550001111")
        #expect(next.device == 1)
        #expect(next.keyIndex == 256)
        #expect(state.devices.count == 254)
        #expect(state.devices["15550001111:1@s.whatsapp.net"] == nil)
    }
}
