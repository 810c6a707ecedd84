import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

/// ``LinkClient`` against a scripted WhatsApp server on 127.0.0.1: real WebSocket, real Noise, real stanzas.
@Suite(.timeLimit(.minutes(10))) struct LinkClientTests {
    let logger = Logger(label: "test.linkclient")
    let group = MultiThreadedEventLoopGroup.singleton
    let server = TestNoiseServer()

    /// Every deadline far beyond what a loaded machine needs. On a busy 2-core runner a pairing-code
    /// exchange (a 131072-round PBKDF2 on each side, in a debug build) takes seconds, and a QR ref or a code
    /// request that runs out meanwhile changes the outcome: these tests are about the flow, not the timers
    /// (the state-machine tests cover those in virtual time; `refsRunningOutEndsWithTimeout` sets its own).
    func configuration(port: Int, root: KeyPair? = nil) -> LinkConfiguration {
        LinkConfiguration(
            url: URL(string: "ws://127.0.0.1:\(port)/ws/chat")!, rootPublicKey: (root ?? server.rootKey).publicKey,
            connectTimeout: .seconds(300), handshakeTimeout: .seconds(300), closeTimeout: .seconds(10),
            pairDeviceTimeout: .seconds(600), firstQRLifetime: .seconds(600), nextQRLifetime: .seconds(600),
            pairingCodeRequestTimeout: .seconds(600), iqTimeout: .seconds(600),
            keepAliveInterval: .seconds(600) ... .seconds(600), restartTimeout: .seconds(600), loginTimeout: .seconds(600),
            postLoginTimeout: .seconds(600))
    }

    /// Collects events; QR codes are also passed to `qrs` for the scripted phone.
    final class Recorder: Sendable {
        let events = Mutex<[LinkEvent]>([])
        let qrs: AsyncStream<String>
        private let qrContinuation: AsyncStream<String>.Continuation

        init() {
            (qrs, qrContinuation) = AsyncStream.makeStream(of: String.self)
        }

        func record(_ event: LinkEvent) {
            events.withLock { $0.append(event) }
            if case .qr(let code, _, _) = event { qrContinuation.yield(code) }
            if event.isTerminal { qrContinuation.finish() }
        }

        var all: [LinkEvent] { events.withLock { $0 } }
        var terminal: [LinkEvent] { all.filter(\.isTerminal) }
    }

    /// Counts the connections the server accepted, to tell registration (1) from login (2).
    final class Counter: Sendable {
        private let value = Mutex(0)
        func next() -> Int {
            value.withLock {
                $0 += 1
                return $0
            }
        }
        var count: Int { value.withLock { $0 } }
    }

    static let primary = TestPrimary(seed: 777)

    /// The login connection: `<success>`, answer count and passive, then wait for the client to close.
    static func serveLogin(_ session: inout ServerSession, preKeyCount: Int = 10) async throws {
        try await session.send(TestPrimary.success())
        while let node = try await session.receive() {
            guard node.tag == "iq", let id = node["id"] else { continue }
            switch node["xmlns"] {
            case "encrypt" where node.child(named: "count") != nil:
                try await session.send(TestPrimary.result(id: id, [BinaryNode("count", ["value": .string(String(preKeyCount))])]))
            default:
                try await session.send(TestPrimary.result(id: id))
            }
        }
    }

    /// Waits for the next stanza that is not a keepalive ping (answering pings on the way).
    static func nextStanza(_ session: inout ServerSession) async throws -> BinaryNode {
        while let node = try await session.receive() {
            if node["xmlns"] == "w:p", let id = node["id"] {
                try await session.send(TestPrimary.result(id: id))
                continue
            }
            return node
        }
        throw TestServerError.closed
    }

    @Test func qrScanPairsAndLogsIn() async throws {
        let recorder = Recorder()
        let connections = Counter()
        let server = self.server
        let replyVerified = Mutex(false)
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            if connections.next() == 1 {
                try await session.send(Self.primary.pairDevice(refs: ["2@first", "2@second"]))
                let ack = try await Self.nextStanza(&session)
                #expect(ack["id"] == "pd-1" && ack["type"] == "result")
                // The phone scans the first QR it sees.
                var qrs = recorder.qrs.makeAsyncIterator()
                guard let code = await qrs.next() else { return }
                let qr = try PairingQR.parse(code).qr
                let identity = Self.primary.deviceIdentity(companionIdentity: qr.identityPublicKey, advSecret: qr.advSecret)
                try await session.send(Self.primary.pairSuccess(deviceIdentity: identity))
                let sign = try await Self.nextStanza(&session)
                let reply = try #require(sign.child(named: "pair-device-sign")?.child(named: "device-identity"))
                _ = try PairSuccessCrypto.verifyReply(
                    reply.contentBytes!, companionIdentityPublicKey: qr.identityPublicKey,
                    primaryIdentityPublicKey: Self.primary.identity.publicKey)
                replyVerified.withLock { $0 = true }
                try await session.send(BinaryNode("stream:error", ["code": "515"]))
                try await socket.sendClose()
                try? await session.waitForClose()
            } else {
                try await Self.serveLogin(&session)
            }
        }) { port, _ in
            let credentials = DeviceCredentials.generate()
            let client = LinkClient(
                credentials: credentials, configuration: configuration(port: port), eventLoopGroup: group, logger: logger)
            await client.run { recorder.record($0) }
            #expect(client.currentQR == nil)

            let events = recorder.all
            guard case .qr(_, 1, _) = events.first else {
                Issue.record("first event is not the first QR: \(events)")
                return
            }
            #expect(recorder.terminal.count == 1)
            guard case .paired(let device) = recorder.terminal.first else {
                Issue.record("not paired: \(events)")
                return
            }
            #expect(device.jid.description == "15550001111:5@s.whatsapp.net")
            #expect(device.lid?.description == "99887766:5@lid")
            #expect(device.credentials.noiseKey == credentials.noiseKey)
            #expect(device.preKeys.isEmpty)
            #expect(device.primaryIdentityKey == Self.primary.identity.publicKey)
        }
        #expect(replyVerified.withLock { $0 })
        #expect(connections.count == 2)
    }

    @Test func pairingCodeOverTheWire() async throws {
        let recorder = Recorder()
        let connections = Counter()
        let server = self.server
        let codes = AsyncStream.makeStream(of: PairingCode.self)
        let phone = try PhoneNumber(validating: "15550001111")
        let ref: [UInt8] = Array("REF-CODE-1".utf8)
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            guard connections.next() == 1 else {
                try await Self.serveLogin(&session, preKeyCount: 0)
                return
            }
            try await session.send(Self.primary.pairDevice(refs: ["2@only"]))
            _ = try await Self.nextStanza(&session)  // pair-device ack
            let hello = try await Self.nextStanza(&session)
            let body = try #require(hello.child(named: "link_code_companion_reg"))
            #expect(body["stage"] == "companion_hello")
            try await session.send(TestPrimary.codeAccepted(id: hello["id"]!, ref: ref))

            // The user types the code the client returned.
            var typed = codes.stream.makeAsyncIterator()
            guard let code = await typed.next() else { return }
            let (primaryHello, primaryEphemeral) = Self.primary.primaryHello(code: code, ref: ref)
            try await session.send(primaryHello)
            let ack = try await Self.nextStanza(&session)
            #expect(ack.tag == "ack")
            let finish = try await Self.nextStanza(&session)
            let finishBody = try #require(finish.child(named: "link_code_companion_reg"))
            let phoneSide = try PairingCodeCrypto.primaryFinish(
                code: code, primaryEphemeral: primaryEphemeral, primaryIdentity: Self.primary.identity,
                wrappedCompanionEphemeral: body.children[0].contentBytes!,
                wrappedKeyBundle: finishBody.children[0].contentBytes!)
            try await session.send(TestPrimary.result(id: finish["id"]!))
            let identity = Self.primary.deviceIdentity(
                companionIdentity: phoneSide.companionIdentityPublicKey, advSecret: phoneSide.advSecret)
            try await session.send(Self.primary.pairSuccess(deviceIdentity: identity))
            _ = try await Self.nextStanza(&session)  // pair-device-sign
            try await session.send(BinaryNode("stream:error", ["code": "515"]))
            try await socket.sendClose()
            try? await session.waitForClose()
        }) { port, _ in
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: configuration(port: port),
                eventLoopGroup: group, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run { recorder.record($0) } }
                // Asked before the connection is up: waits for it.
                let code = try await client.requestPairingCode(phone: phone, showPushNotification: true)
                // Asking again gives the same live code.
                #expect(try await client.requestPairingCode(phone: phone, showPushNotification: true) == code)
                codes.continuation.yield(code)
                try await tasks.waitForAll()
            }
            guard case .paired(let device) = recorder.terminal.first else {
                Issue.record("not paired: \(recorder.all)")
                return
            }
            #expect(device.preKeys.count == 50)
            #expect(recorder.terminal.count == 1)
            // After the run, requests are refused at once.
            let error = await #expect(throws: LinkError.self) {
                _ = try await client.requestPairingCode(phone: phone, showPushNotification: true)
            }
            #expect(error?.code == .sessionEnded)
        }
    }

    @Test func rateLimitedCodeRequest() async throws {
        let server = self.server
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            try await session.send(Self.primary.pairDevice(refs: ["2@only"]))
            _ = try await Self.nextStanza(&session)
            let hello = try await Self.nextStanza(&session)
            try await session.send(TestPrimary.error(id: hello["id"]!, code: 429, text: "rate-overlimit", backoff: 30))
            try? await session.waitForClose()
        }) { port, _ in
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: configuration(port: port),
                eventLoopGroup: group, logger: logger)
            let recorder = Recorder()
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run { recorder.record($0) } }
                let error = await #expect(throws: LinkError.self) {
                    _ = try await client.requestPairingCode(
                        phone: try PhoneNumber(validating: "15550001111"), showPushNotification: false)
                }
                #expect(error?.code == .rateLimited)
                #expect(error?.retryAfter == .seconds(30))
                #expect(error?.serverCode == 429)
                client.cancel()
            }
            #expect(recorder.terminal.isEmpty, "cancel ends the run without a terminal event")
        }
    }

    @Test func refsRunningOutEndsWithTimeout() async throws {
        let server = self.server
        let sawClose = Mutex(false)
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            try await session.send(Self.primary.pairDevice(refs: ["2@a", "2@b"]))
            try? await session.waitForClose()
            sawClose.withLock { $0 = session.sawClose }
        }) { port, _ in
            var config = configuration(port: port)
            config.firstQRLifetime = .milliseconds(100)
            config.nextQRLifetime = .milliseconds(50)
            let recorder = Recorder()
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: config, eventLoopGroup: group, logger: logger)
            await client.run { recorder.record($0) }
            let sequences = recorder.all.compactMap { if case .qr(_, let sequence, _) = $0 { sequence } else { nil } }
            #expect(sequences == [1, 2])
            #expect(recorder.terminal == [.timeout])
        }
        #expect(sawClose.withLock { $0 }, "the client closed with a WebSocket close frame")
    }

    @Test func wrongRootKeyFailsWithCertificateInvalid() async throws {
        let server = self.server
        try await TestWebSocketServer.with(script: { socket in
            _ = try? await server.accept(socket)
        }) { port, _ in
            let recorder = Recorder()
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: configuration(port: port, root: .generate()),
                eventLoopGroup: group, logger: logger)
            await client.run { recorder.record($0) }
            guard case .failed(let failure) = recorder.terminal.first else {
                Issue.record("no failure: \(recorder.all)")
                return
            }
            #expect(failure.code == .certificateInvalid)
            #expect(recorder.all.count == 1)
        }
    }

    @Test func droppedConnectionFailsWithConnectionLost() async throws {
        let server = self.server
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            try await session.send(Self.primary.pairDevice(refs: ["2@a"]))
            _ = try await Self.nextStanza(&session)
            try await socket.sendClose()
        }) { port, _ in
            let recorder = Recorder()
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: configuration(port: port),
                eventLoopGroup: group, logger: logger)
            await client.run { recorder.record($0) }
            guard case .failed(let failure) = recorder.terminal.first else {
                Issue.record("no failure: \(recorder.all)")
                return
            }
            #expect(failure.code == .connectionLost)
            #expect(recorder.terminal.count == 1)
        }
    }

    @Test func nothingListeningFailsWithConnectionLost() async throws {
        // Port 1 on loopback: nothing listens there. (Binding and releasing an ephemeral port races
        // with the parallel tests, which may be handed the same port.)
        let port = 1
        let recorder = Recorder()
        let client = LinkClient(
            credentials: DeviceCredentials.generate(), configuration: configuration(port: port), eventLoopGroup: group,
            logger: logger)
        await client.run { recorder.record($0) }
        guard case .failed(let failure) = recorder.terminal.first else {
            Issue.record("no failure: \(recorder.all)")
            return
        }
        #expect(failure.code == .connectionLost)
    }

    @Test func cancellingTheRunClosesWithoutATerminalEvent() async throws {
        let server = self.server
        let closed = Mutex(false)
        try await TestWebSocketServer.with(script: { socket in
            var session = try await server.accept(socket)
            try await session.send(Self.primary.pairDevice(refs: ["2@a"]))
            try? await session.waitForClose()
            closed.withLock { $0 = true }
        }) { port, _ in
            let recorder = Recorder()
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: configuration(port: port),
                eventLoopGroup: group, logger: logger)
            let phone = try PhoneNumber(validating: "15550001111")
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run { recorder.record($0) } }
                // Wait for the QR, then cancel the run's task.
                var qrs = recorder.qrs.makeAsyncIterator()
                _ = await qrs.next()
                #expect(client.currentQR != nil)
                tasks.cancelAll()
            }
            #expect(recorder.terminal.isEmpty)
            let error = await #expect(throws: LinkError.self) {
                _ = try await client.requestPairingCode(phone: phone, showPushNotification: false)
            }
            #expect(error?.code == .sessionEnded)
        }
        #expect(closed.withLock { $0 })
    }

    @Test func cancelledRequestReturnsCancelled() async throws {
        let server = self.server
        try await TestWebSocketServer.with(script: { socket in
            // Never sends refs, so a code request waits.
            var session = try await server.accept(socket)
            try? await session.waitForClose()
        }) { port, _ in
            let client = LinkClient(
                credentials: DeviceCredentials.generate(), configuration: configuration(port: port),
                eventLoopGroup: group, logger: logger)
            let phone = try PhoneNumber(validating: "15550001111")
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run { _ in } }
                let result = await withTaskGroup(of: Result<PairingCode, LinkError>.self) { requests in
                    requests.addTask {
                        do throws(LinkError) {
                            return .success(try await client.requestPairingCode(phone: phone, showPushNotification: false))
                        } catch {
                            return .failure(error)
                        }
                    }
                    requests.cancelAll()
                    return await requests.next()!
                }
                guard case .failure(let error) = result else {
                    Issue.record("expected cancellation, got \(result)")
                    return
                }
                #expect(error.code == .cancelled)
                client.cancel()
            }
        }
    }
}
