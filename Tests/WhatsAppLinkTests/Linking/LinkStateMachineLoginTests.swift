import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

@Suite struct LinkStateMachineLoginTests {
    let primary = TestPrimary()

    /// Registered, refs shown, pair-success accepted: returns the pair-device-sign reply.
    func paired(_ harness: inout Harness, clientProps: [UInt8]? = nil) throws -> BinaryNode {
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        var node = primary.validPairSuccess(for: harness.initialCredentials, keyIndex: 7)
        if let clientProps {
            var body = node.children[0]
            body.content = .nodes(body.children + [BinaryNode("client-props", [:], .bytes(clientProps))])
            node.content = .nodes([body])
        }
        let actions = harness.receive(node)
        return try #require(Harness.sent(actions).first)
    }

    /// From pair-success to `<success>` on the login connection.
    func loggedIn(_ harness: inout Harness) throws {
        _ = try paired(&harness)
        harness.receive(BinaryNode("stream:error", ["code": "515"]))
        harness.feed(.connectionClosed(harness.connection, nil))
        harness.feed(.connectionOpened(harness.connection))
        harness.receive(TestPrimary.success())
    }

    @Test func pairSuccessIsSignedAndTheRestartLogsIn() throws {
        var harness = Harness()
        let reply = try paired(&harness, clientProps: [0x08, 0x01])
        #expect(reply.tag == "iq" && reply["type"] == "result" && reply["id"] == "ps-1" && reply.jid("to") == .serverJID)
        let identity = try #require(reply.child(named: "pair-device-sign")?.child(named: "device-identity"))
        #expect(identity["key-index"] == "7")
        let keyIndex = try PairSuccessCrypto.verifyReply(
            identity.contentBytes!, companionIdentityPublicKey: harness.initialCredentials.identityKey.publicKey,
            primaryIdentityPublicKey: primary.identity.publicKey)
        #expect(keyIndex == 7)
        #expect(harness.machine.currentQR == nil)
        #expect(harness.timers[.qrRotation] == nil)
        #expect(harness.timers[.restart] != nil)
        #expect(harness.terminalEvents.isEmpty, "nothing is reported paired before <success>")

        // 515: close, then a new connection with the login payload.
        let restart = harness.receive(BinaryNode("stream:error", ["code": "515"]))
        #expect(restart.count == 1)
        guard case .close = restart.first else {
            Issue.record("no close")
            return
        }
        #expect(harness.connects.count == 1)
        harness.feed(.connectionClosed(harness.connection, nil))
        #expect(harness.connects.count == 2)
        #expect(harness.connects[1].payload == ClientPayloadBuilder.login(username: 15_550_001_111, device: 5))
        #expect(harness.timers[.login] != nil)
        harness.feed(.connectionOpened(harness.connection))
        #expect(harness.terminalEvents.isEmpty)

        // <success>: prekey count first.
        let success = harness.receive(TestPrimary.success())
        let count = try #require(Harness.sent(success).first)
        #expect(count.tag == "iq" && count["xmlns"] == "encrypt" && count["type"] == "get")
        #expect(count.children.map(\.tag) == ["count"])
        #expect(harness.timers[.login] == nil)

        // The server has none: upload.
        let upload = try #require(
            Harness.sent(
                harness.receive(
                    TestPrimary.result(
                        id: count["id"]!,
                        [
                            BinaryNode("count", ["value": "0"])
                        ]))
            ).first)
        #expect(upload["xmlns"] == "encrypt" && upload["type"] == "set")
        #expect(upload.children.map(\.tag) == ["registration", "type", "identity", "list", "skey"])
        let credentials = harness.initialCredentials
        #expect(upload.child(named: "registration")?.contentBytes == Stanzas.bigEndian(credentials.registrationID, bytes: 4))
        #expect(upload.child(named: "type")?.contentBytes == [5])
        #expect(upload.child(named: "identity")?.contentBytes == credentials.identityKey.publicKey)
        let keys = upload.child(named: "list")?.children ?? []
        #expect(keys.count == 50)
        #expect(keys.first?.child(named: "id")?.contentBytes == [0, 0, 1])
        #expect(keys.allSatisfy { $0.child(named: "value")?.contentBytes?.count == 32 })
        let skey = try #require(upload.child(named: "skey"))
        #expect(skey.child(named: "id")?.contentBytes == [0, 0, 1])
        #expect(skey.child(named: "value")?.contentBytes == credentials.signedPreKey.keyPair.publicKey)
        #expect(skey.child(named: "signature")?.contentBytes == credentials.signedPreKey.signature)

        let passive = try #require(Harness.sent(harness.receive(TestPrimary.result(id: upload["id"]!))).first)
        #expect(passive["xmlns"] == "passive" && passive["type"] == "set")
        #expect(passive.children.map(\.tag) == ["active"])
        #expect(harness.terminalEvents.isEmpty)

        let done = harness.receive(TestPrimary.result(id: passive["id"]!))
        guard case .paired(let device) = Harness.events(done).first else {
            Issue.record("not paired")
            return
        }
        #expect(device.jid == JID(user: "15550001111", device: 5, server: JID.Server.whatsApp))
        #expect(device.lid == JID(user: "99887766", device: 5, server: JID.Server.lid))
        #expect(device.deviceID == 5)
        #expect(device.phone == "15550001111")
        #expect(device.platform == "android")
        #expect(device.businessName == nil)
        #expect(device.pushName == nil)
        #expect(device.keyIndex == 7)
        #expect(device.clientProps == [0x08, 0x01])
        #expect(device.primaryIdentityKey == primary.identity.publicKey)
        #expect(device.credentials == harness.initialCredentials)
        #expect(device.preKeys.count == 50)
        #expect(device.preKeys.map(\.keyPair.publicKey) == keys.map { $0.child(named: "value")!.contentBytes! })
        #expect(device.pairedAt == harness.date)
        #expect(!device.signedDeviceIdentity.isEmpty)
        #expect(harness.terminalEvents.count == 1 && harness.finished && harness.closes == 2)
    }

    @Test func enoughPrekeysSkipTheUpload() throws {
        var harness = Harness()
        try loggedIn(&harness)
        let count = try #require(harness.sent.last)
        let next = try #require(
            Harness.sent(
                harness.receive(
                    TestPrimary.result(
                        id: count["id"]!,
                        [
                            BinaryNode("count", ["value": "40"])
                        ]))
            ).first)
        #expect(next["xmlns"] == "passive")
        harness.receive(TestPrimary.result(id: next["id"]!))
        guard case .paired(let device) = harness.terminalEvents.first else {
            Issue.record("not paired")
            return
        }
        #expect(device.preKeys.isEmpty)
    }

    @Test func failedPostLoginIqsStillPairAfterSuccess() throws {
        var harness = Harness()
        try loggedIn(&harness)
        let count = try #require(harness.sent.last)
        let passive = try #require(Harness.sent(harness.receive(TestPrimary.error(id: count["id"]!, code: 500, text: "x"))).first)
        #expect(passive["xmlns"] == "passive")
        harness.fire(.iq(passive["id"]!))
        #expect(harness.terminalEvents.count == 1)
        guard case .paired = harness.terminalEvents.first else {
            Issue.record("not paired")
            return
        }
    }

    @Test func silentServerAfterSuccessStillPairsAtThePostLoginDeadline() throws {
        var harness = Harness()
        try loggedIn(&harness)
        harness.fire(.postLogin)
        guard case .paired = harness.terminalEvents.first else {
            Issue.record("not paired")
            return
        }
        #expect(harness.terminalEvents.count == 1)
    }

    @Test func droppedConnectionAfterSuccessStillPairs() throws {
        var harness = Harness()
        try loggedIn(&harness)
        harness.feed(.connectionClosed(harness.connection, nil))
        guard case .paired = harness.terminalEvents.first else {
            Issue.record("not paired")
            return
        }
    }

    @Test func restartTimeoutClosesAndLogsInAnyway() throws {
        var harness = Harness()
        _ = try paired(&harness)
        let actionsFired = harness.fire(.restart)
        let actions = try #require(actionsFired)
        guard case .close = actions.first else {
            Issue.record("no close")
            return
        }
        harness.feed(.connectionClosed(harness.connection, nil))
        #expect(harness.connects.count == 2)
    }

    @Test func serverClosingWithoutA515AlsoLeadsToLogin() throws {
        var harness = Harness()
        _ = try paired(&harness)
        harness.receive(BinaryNode("xmlstreamend"))
        harness.feed(.connectionClosed(harness.connection, nil))
        #expect(harness.connects.count == 2)
        #expect(harness.terminalEvents.isEmpty)
    }

    @Test func noSuccessInTimeIsATimeout() throws {
        var harness = Harness()
        _ = try paired(&harness)
        harness.receive(BinaryNode("stream:error", ["code": "515"]))
        harness.feed(.connectionClosed(harness.connection, nil))
        harness.feed(.connectionOpened(harness.connection))
        harness.fire(.login)
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .timeout)
    }

    @Test(arguments: [401, 403, 405, 500])
    func loginFailureReportsTheReason(reason: Int) throws {
        var harness = Harness()
        _ = try paired(&harness)
        harness.receive(BinaryNode("stream:error", ["code": "515"]))
        harness.feed(.connectionClosed(harness.connection, nil))
        harness.feed(.connectionOpened(harness.connection))
        harness.receive(BinaryNode("failure", ["reason": .string(String(reason)), "location": "lla"]))
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .loginFailed)
        #expect(failure.serverCode == reason)
        #expect(harness.terminalEvents.count == 1 && harness.finished && harness.closes == 2)
    }

    @Test func streamErrorOnLoginIsLoginFailed() throws {
        var harness = Harness()
        _ = try paired(&harness)
        harness.receive(BinaryNode("stream:error", ["code": "515"]))
        harness.feed(.connectionClosed(harness.connection, nil))
        harness.feed(.connectionOpened(harness.connection))
        harness.receive(BinaryNode("stream:error", ["code": "401"], [BinaryNode("conflict", ["type": "device_removed"])]))
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .loginFailed && failure.serverCode == 401)
        #expect(failure.message.contains("device_removed"))
    }

    @Test func streamErrorWhileRegisteringIsServerError() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.receive(BinaryNode("stream:error", ["code": "503"]))
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .serverError && failure.serverCode == 503)
    }

    @Test func a515BeforePairingIsAServerError() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(BinaryNode("stream:error", ["code": "515"]))
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .serverError)
    }

    @Test(arguments: [
        (PairSuccessCrypto.Fault.badHMAC, "hmac-mismatch", LinkFailure.Code.hmacMismatch),
        (.badAccountSignature, "signature-mismatch", .signatureMismatch),
    ])
    func badPairSuccessIsRefusedWithTheMatchingError(
        fault: PairSuccessCrypto.Fault, text: String, code: LinkFailure.Code
    )
        throws
    {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let node = primary.pairSuccess(
            deviceIdentity: primary.deviceIdentity(
                companionIdentity: harness.initialCredentials.identityKey.publicKey,
                advSecret: harness.initialCredentials.advSecretKey, fault: fault))
        let actions = harness.receive(node)
        let reply = try #require(Harness.sent(actions).first)
        #expect(
            reply
                == BinaryNode(
                    "iq", ["to": .jid(.serverJID), "type": "error", "id": "ps-1"],
                    [
                        BinaryNode("error", ["code": "401", "text": .string(text)])
                    ]))
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == code)
        #expect(harness.terminalEvents.count == 1 && harness.closes == 1 && harness.finished)
        #expect(harness.connects.count == 1, "no login after a refused pair-success")
    }

    @Test func pairSuccessForAnotherIdentityIsASignatureMismatch() throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let node = primary.pairSuccess(
            deviceIdentity: primary.deviceIdentity(
                companionIdentity: KeyPair.generate().publicKey, advSecret: harness.initialCredentials.advSecretKey))
        harness.receive(node)
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .signatureMismatch)
    }

    @Test(arguments: ["garbage", "no-device", "lid-only-jid"])
    func malformedPairSuccessIsAnInternalError(kind: String) throws {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        let valid = primary.validPairSuccess(for: harness.initialCredentials)
        var node: BinaryNode
        switch kind {
        case "garbage":
            node = primary.pairSuccess(deviceIdentity: [0xFF, 0x01, 0x02])
        case "no-device":
            node = valid
            var body = valid.children[0]
            body.content = .nodes(body.children.filter { $0.tag != "device" })
            node.content = .nodes([body])
        default:
            node = primary.pairSuccess(
                deviceIdentity: valid.children[0].child(named: "device-identity")!.contentBytes!,
                jid: JID(user: "abc", device: 5, server: JID.Server.whatsApp))
        }
        let actions = harness.receive(node)
        let reply = try #require(Harness.sent(actions).first)
        #expect(reply["type"] == "error")
        #expect(reply.child(named: "error")?["code"] == "500")
        #expect(reply.child(named: "error")?["text"] == "internal-error")
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .serverError)
    }

    @Test func aSecondPairSuccessIsIgnored() throws {
        var harness = Harness()
        _ = try paired(&harness)
        #expect(harness.receive(primary.validPairSuccess(for: harness.initialCredentials, id: "ps-2")).isEmpty)
    }

    @Test(arguments: [
        (
            WhatsAppConnectionError(.certificateInvalid, certificateError: CertificateError(.intermediateSignatureInvalid)),
            LinkFailure.Code.certificateInvalid
        ),
        (WhatsAppConnectionError(.handshakeFailed, detail: "x"), .handshakeFailed),
        (WhatsAppConnectionError(.handshakeTimeout), .timeout),
        (WhatsAppConnectionError(.connectFailed, webSocketError: WebSocketError(.connectFailed)), .connectionLost),
        (WhatsAppConnectionError(.connectFailed, webSocketError: WebSocketError(.tlsFailure)), .handshakeFailed),
        (WhatsAppConnectionError(.connectFailed, webSocketError: WebSocketError(.timeout)), .timeout),
        (WhatsAppConnectionError(.connectionClosed), .connectionLost),
    ])
    func connectionFailuresMapToReasons(error: WhatsAppConnectionError, code: LinkFailure.Code) {
        for loginConnection in [false, true] {
            var harness = Harness()
            if loginConnection {
                _ = try? paired(&harness)
                harness.feed(.connectionClosed(harness.connection, nil))
            } else {
                harness.feed(.start)
            }
            harness.feed(.connectionFailed(harness.connection, error))
            guard case .failed(let failure) = harness.terminalEvents.first else {
                Issue.record("no failure")
                return
            }
            #expect(failure.code == code)
            #expect(harness.terminalEvents.count == 1 && harness.finished)
        }
    }

    @Test func droppedRegistrationConnectionIsConnectionLost() {
        var harness = Harness()
        harness.openRegistration()
        harness.receive(primary.pairDevice())
        harness.feed(.connectionClosed(harness.connection, WhatsAppConnectionError(.decryptionFailed)))
        guard case .failed(let failure) = harness.terminalEvents.first else {
            Issue.record("no failure")
            return
        }
        #expect(failure.code == .connectionLost)
        #expect(harness.terminalEvents.count == 1)
        // The late close of a finished run changes nothing.
        #expect(harness.feed(.connectionClosed(harness.connection, nil)).isEmpty)
    }
}
