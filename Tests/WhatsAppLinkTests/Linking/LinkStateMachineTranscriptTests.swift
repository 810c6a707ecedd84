import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

/// Replays the server side of whatsmeow's transcripts into the state machine and compares what we send with
/// what whatsmeow sent, stanza for stanza. The server's crypto-bound contents (pair-success's device identity,
/// primary_hello's wrapped key) are rebuilt for our keys, since the transcripts' secrets are unknown; ids
/// of the server's answers to our own iqs are rewritten to our ids.
@Suite struct LinkStateMachineTranscriptTests {
    let primary = TestPrimary()

    /// Replaces the `device-identity` of a transcript pair-success with one keyed for `credentials`.
    func pairSuccess(_ transcriptNode: BinaryNode, for credentials: DeviceCredentials) -> BinaryNode {
        var node = transcriptNode
        var body = node.children[0]
        let identity = primary.deviceIdentity(
            companionIdentity: credentials.identityKey.publicKey, advSecret: credentials.advSecretKey, keyIndex: 1)
        body.content = .nodes(
            body.children.map { child in
                child.tag == "device-identity" ? BinaryNode("device-identity", child.attributes, .bytes(identity)) : child
            })
        node.content = .nodes([body])
        return node
    }

    func withID(_ node: BinaryNode, _ id: String) -> BinaryNode {
        var node = node
        node["id"] = id
        return node
    }

    /// The login connection (`*-conn2`): success, count answer, passive answer.
    func replayLogin(_ harness: inout Harness, transcript: Transcript) throws {
        let server = transcript.serverNodes
        let theirs = transcript.clientNodes
        #expect(server.map(\.tag) == ["success", "iq", "iq"])
        harness.feed(.connectionOpened(harness.connection))

        let count = try #require(Harness.sent(harness.receive(server[0])).first)
        expectSameShape(count, theirs[0], ignoringValues: ["id"])
        // The test server's count answer has no <count>: whatsmeow went on to passive without uploading.
        let passive = try #require(Harness.sent(harness.receive(withID(server[1], count["id"]!))).first)
        expectSameShape(passive, theirs[1], ignoringValues: ["id"])
        let done = harness.receive(withID(server[2], passive["id"]!))
        #expect(Harness.sent(done).isEmpty)
        guard case .paired(let device) = Harness.events(done).first else {
            Issue.record("not paired")
            return
        }
        #expect(device.jid.description == "15550001111:5@s.whatsapp.net")
        #expect(device.lid?.description == "99887766:5@lid")
        #expect(device.platform == "android")
        #expect(device.businessName == nil)
        #expect(device.preKeys.isEmpty)
    }

    @Test func qrTranscript() throws {
        let conn1 = try Transcript.load("qr-conn1")
        let conn2 = try Transcript.load("qr-conn2")
        let server = conn1.serverNodes
        let theirs = conn1.clientNodes
        #expect(server.map(\.tag) == ["iq", "iq", "stream:error"])
        #expect(theirs.count == 2)

        var harness = Harness()
        harness.openRegistration()
        var ours: [BinaryNode] = []

        ours += Harness.sent(harness.receive(server[0]))
        #expect(harness.qrs.count == 1)
        #expect(try PairingQR.parse(harness.qrs[0].code).qr.ref == "2@REF_ONE_for_test")

        ours += Harness.sent(harness.receive(pairSuccess(server[1], for: harness.initialCredentials)))
        let restart = harness.receive(server[2])
        ours += Harness.sent(restart)
        #expect(ours.count == theirs.count)
        for (mine, other) in zip(ours, theirs) {
            expectSameShape(mine, other, ignoringContent: ["device-identity"])
        }
        guard case .close = restart.first else {
            Issue.record("515 did not close")
            return
        }
        harness.feed(.connectionClosed(harness.connection, nil))
        #expect(harness.connects.count == 2)

        try replayLogin(&harness, transcript: conn2)
        #expect(harness.terminalEvents.count == 1)
    }

    @Test func pairingCodeTranscript() throws {
        let conn1 = try Transcript.load("code-conn1")
        let conn2 = try Transcript.load("code-conn2")
        let server = conn1.serverNodes
        let theirs = conn1.clientNodes
        #expect(server.map(\.tag) == ["iq", "iq", "notification", "iq", "iq", "stream:error"])
        #expect(theirs.map(\.tag) == ["iq", "iq", "ack", "iq", "iq"])

        var harness = Harness()
        harness.openRegistration()
        var ours: [BinaryNode] = []
        let phone = try PhoneNumber(validating: "15550001111")

        // whatsmeow asked for the code once the refs were in.
        ours += Harness.sent(harness.receive(server[0]))
        ours += Harness.sent(harness.feed(.requestPairingCode(1, phone, showPushNotification: true)))
        let helloID = try #require(ours.last?["id"])

        ours += Harness.sent(harness.receive(withID(server[1], helloID)))
        guard case .success(let code)? = harness.answers[1] else {
            Issue.record("no code")
            return
        }

        // primary_hello with the transcript's ref, wrapped for our code.
        let ref = try #require(server[2].children.first?.child(named: "link_code_pairing_ref")?.contentBytes)
        #expect(ref == Array("REF-CODE-1".utf8))
        let (ourHello, _) = primary.primaryHello(code: code, ref: ref, id: "n-1")
        var notification = server[2]
        notification.content = ourHello.content
        expectSameShape(notification, server[2], ignoringContent: ["link_code_pairing_wrapped_primary_ephemeral_pub", "primary_identity_pub"])
        ours += Harness.sent(harness.receive(notification))
        let finishID = try #require(ours.last?["id"])

        ours += Harness.sent(harness.receive(withID(server[3], finishID)))
        ours += Harness.sent(harness.receive(pairSuccess(server[4], for: harness.machine.credentials)))
        let restart = harness.receive(server[5])
        ours += Harness.sent(restart)

        #expect(ours.map(\.tag) == theirs.map(\.tag))
        for (index, (mine, other)) in zip(ours, theirs).enumerated() {
            // Our own iq ids differ (random prefix); replies to the server's ids must match.
            let ownIQ = index == 1 || index == 3
            expectSameShape(
                mine, other, ignoringValues: ownIQ ? ["id"] : [],
                ignoringContent: ["companion_platform_id", "companion_platform_display", "device-identity"])
        }
        // The values whatsmeow's profile chose differently are still well-formed.
        let body = try #require(ours[1].child(named: "link_code_companion_reg"))
        #expect(body.child(named: "companion_platform_id")?.contentString == "1")
        #expect(body.child(named: "companion_platform_display")?.contentString == "Chrome (Linux)")

        harness.feed(.connectionClosed(harness.connection, nil))
        try replayLogin(&harness, transcript: conn2)
        guard case .paired(let device) = harness.terminalEvents.first else { return }
        // The stored credentials carry the secret derived by the code exchange.
        #expect(device.credentials.advSecretKey != harness.initialCredentials.advSecretKey)
        #expect(device.credentials.advSecretKey == harness.machine.credentials.advSecretKey)
    }
}
