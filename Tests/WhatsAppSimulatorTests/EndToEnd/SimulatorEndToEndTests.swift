import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import WhatsAppProtocol

@testable import WhatsAppSimulator

extension SimulatorConfiguration {
    /// The defaults, with the server's deadlines far beyond what a loaded machine needs: on a busy 2-core
    /// runner a TLS and Noise handshake, or a phone step, can take many seconds, and a server that gives up
    /// meanwhile closes a socket the test still writes to. A test about one of these deadlines sets it short.
    static func roomy(_ adjust: (inout SimulatorConfiguration) -> Void = { _ in }) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration(
            handshakeTimeout: .seconds(600), phoneReplyTimeout: .seconds(600), restartCloseTimeout: .seconds(600))
        adjust(&configuration)
        return configuration
    }
}

/// Starts a simulator on 127.0.0.1, port 0, runs `body`, stops it and removes its CA file.
func withSimulator<T>(
    _ configuration: SimulatorConfiguration = .roomy(),
    _ body: (Simulator, SimulatorEndpoints) async throws -> T
) async throws -> T {
    var logger = Logger(label: "simulator-test")
    logger.logLevel = ProcessInfo.processInfo.environment["SIMULATOR_TEST_LOG"] == nil ? .warning : .trace
    let simulator = try Simulator(
        configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
    let endpoints = try await simulator.start()
    do {
        let result = try await body(simulator, endpoints)
        await simulator.stop()
        if let ca = endpoints.caFilePath { try? FileManager.default.removeItem(atPath: ca) }
        return result
    } catch {
        await simulator.stop()
        if let ca = endpoints.caFilePath { try? FileManager.default.removeItem(atPath: ca) }
        throw error
    }
}

/// Waits (with a deadline, polling) until `condition` holds.
func eventually(
    timeout: Duration = .seconds(120), _ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        guard clock.now < deadline else {
            Issue.record("condition not reached in time", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Registers, acks pair-device and returns the refs.
func register(_ companion: inout WireCompanion) async throws -> [String] {
    let pairDevice = try await companion.next()
    #expect(pairDevice.child(named: "pair-device") != nil)
    try await companion.send(CompanionLogic.ack(iq: pairDevice))
    return CompanionLogic.refs(pairDevice)
}

/// Answers pair-success as walink would; returns the verification result and the stanzas after the reply.
func answerPairSuccess(_ companion: inout WireCompanion) async throws -> Result<PairSuccessCrypto.Verified, PairSuccessError> {
    let pairSuccess = try await companion.next()
    #expect(pairSuccess.child(named: "pair-success") != nil)
    let (reply, result) = companion.logic.answer(pairSuccess: pairSuccess)
    try await companion.send(reply)
    return result
}

@Suite struct SimulatorEndToEndTests {
    /// The whole QR path over TLS: handshake under the simulator's root and CA, pair-device, scan, pair-success
    /// verified by the companion, pair-device-sign verified by the phone, 515 and close; then a login
    /// connection gets `<success>` and answers to its post-login iqs, and the simulator records the login.
    @Test func qrPairingAndLogin() async throws {
        try await withSimulator { simulator, endpoints in
            #expect(endpoints.webSocketURL.hasPrefix("wss://127.0.0.1:"))
            #expect(endpoints.port > 0)
            let pem = try String(contentsOfFile: try #require(endpoints.caFilePath), encoding: .utf8)
            #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))

            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            #expect(refs.count == 6)
            let qr = companion.logic.qr(ref: refs[0])
            async let scanned = simulator.scan(qr: qr, phone: "15550001111")
            let verified = try await answerPairSuccess(&companion).get()
            // After the 515 the companion closes, as walink and whatsmeow do.
            #expect(try await companion.next() == ServerStanzas.streamError(code: 515))
            await companion.close()
            guard case .paired(let device) = try await scanned else {
                Issue.record("not paired")
                return
            }
            #expect(device.jid == "15550001111:1@s.whatsapp.net")
            #expect(device.lid.hasSuffix(":1@lid"))
            #expect(verified.account.keyIndex == 1)
            #expect(simulator.status().registrationConnections == 0)

            // Login as the paired device (the restart after 515).
            let jid = try #require(JID(device.jid))
            var login = try await WireCompanion.connect(
                endpoints, logic: companion.logic, payload: CompanionLogic.loginPayload(jid: jid))
            let success = try await login.next()
            #expect(success.tag == "success")
            #expect(success.attributes["lid"] == .jid(try #require(JID(device.lid))))
            let to = BinaryNode.AttributeValue.jid(.serverJID)
            try await login.send(BinaryNode("iq", ["id": "1", "xmlns": "encrypt", "type": "get", "to": to], [BinaryNode("count")]))
            #expect(try await login.next().child(named: "count")?["value"] == "0")
            try await login.send(BinaryNode("iq", ["id": "2", "xmlns": "passive", "type": "set", "to": to], [BinaryNode("active")]))
            #expect(try await login.next() == ServerStanzas.result(id: "2"))
            try await login.send(BinaryNode("iq", ["id": "3", "xmlns": "w:p", "type": "get", "to": to]))
            #expect(try await login.next() == ServerStanzas.result(id: "3"))
            // The keepalive is on record (written before its answer went out), with its connection.
            let keepalives = simulator.keepalives
            #expect(keepalives.count == 1)
            #expect(keepalives.allSatisfy { $0.answered >= $0.received })
            let record = try #require(simulator.pairedDevices.first)
            #expect(record.loginCount == 1)
            #expect(record.isConnected)
            await login.close()
            try await eventually { simulator.pairedDevices.first?.isConnected == false }
        }
    }

    /// After the 515 the socket is the companion's to close, as WhatsApp leaves it: the companion logs in on
    /// a new connection while the old one is still up, the old one still carries stanzas both ways, and the
    /// server closes it when the companion does. (Its own bound is 600 s here, so a close within this test is
    /// the answer to the companion's.)
    @Test func afterTheRestartTheCompanionClosesTheSocket() async throws {
        try await withSimulator(.roomy { $0.tls = .disabled }) { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let scanned = simulator.scan(qr: qr)
            _ = try await answerPairSuccess(&companion).get()
            #expect(try await companion.next() == ServerStanzas.streamError(code: 515))
            guard case .paired(let device) = try await scanned else {
                Issue.record("not paired")
                return
            }

            // whatsmeow's reconnect: the login connection opens before the old socket is gone.
            var login = try await WireCompanion.connect(
                endpoints, logic: companion.logic, payload: CompanionLogic.loginPayload(jid: try #require(JID(device.jid))))
            #expect(try await login.next().tag == "success")

            let to = BinaryNode.AttributeValue.jid(.serverJID)
            try await companion.send(BinaryNode("iq", ["id": "after-515", "xmlns": "w:p", "type": "get", "to": to]))
            #expect(try await companion.next() == ServerStanzas.result(id: "after-515"))
            #expect(simulator.status().openConnections == 2)

            // The companion leaves: the server answers its close frame and drops the connection.
            try await companion.sendClose()
            #expect(try await companion.drainUntilClosed().isEmpty)
            try await eventually { simulator.status().openConnections == 1 }
            #expect(simulator.pairedDevices.first?.isConnected == true, "the login connection is untouched")
            await login.close()
        }
    }

    /// A companion that never closes after the 515 is closed by the server once the configured bound is up.
    @Test func afterTheRestartTheServerClosesASilentCompanion() async throws {
        let configuration = SimulatorConfiguration.roomy {
            $0.tls = .disabled
            $0.restartCloseTimeout = .milliseconds(200)
        }
        try await withSimulator(configuration) { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let scanned = simulator.scan(qr: qr)
            _ = try await answerPairSuccess(&companion).get()
            guard case .paired = try await scanned else {
                Issue.record("not paired")
                return
            }
            // The companion sends nothing more: the 515, then the server's close, ends its stream.
            #expect(try await companion.drainUntilClosed() == [ServerStanzas.streamError(code: 515)])
            try await eventually { simulator.status().openConnections == 0 }
        }
    }

    /// Login with an unknown device gets `<failure reason=401>` and the connection closes.
    @Test func unknownLogin() async throws {
        try await withSimulator { _, endpoints in
            var login = try await WireCompanion.connect(
                endpoints, payload: CompanionLogic.loginPayload(jid: JID(user: "15550009999", device: 2, server: "s.whatsapp.net")))
            #expect(try await login.drainUntilClosed() == [ServerStanzas.failure(reason: 401)])
        }
    }

    /// The listener only upgrades `/ws/chat` from WhatsApp Web's origin: 403 for another origin, 404
    /// elsewhere.
    @Test func originAndPath() async throws {
        try await withSimulator { _, endpoints in
            let group = MultiThreadedEventLoopGroup.singleton
            guard
                case .refused(let status) = try await TestWebSocket.connect(
                    url: endpoints.webSocketURL, caFile: endpoints.caFilePath, origin: "https://evil.example", group: group)
            else {
                Issue.record("upgraded")
                return
            }
            #expect(status == 403)
            let other = endpoints.webSocketURL.replacingOccurrences(of: "/ws/chat", with: "/other")
            guard
                case .refused(let notFound) = try await TestWebSocket.connect(
                    url: other, caFile: endpoints.caFilePath, group: group)
            else {
                Issue.record("upgraded")
                return
            }
            #expect(notFound == 404)
        }
    }

    /// Plain `ws://` mode works the same (tests only).
    @Test func plainWebSocket() async throws {
        try await withSimulator(.roomy { $0.tls = .disabled }) { simulator, endpoints in
            #expect(endpoints.webSocketURL.hasPrefix("ws://"))
            #expect(endpoints.caFilePath == nil)
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qrscanned = companion.logic.qr(ref: refs[1])
            async let scanned = simulator.scan(qr: qrscanned)
            _ = try await answerPairSuccess(&companion).get()
            guard case .paired = try await scanned else {
                Issue.record("not paired")
                return
            }
        }
    }

    /// The pairing-code path on the wire, with the phone typing the code the companion shows.
    @Test func codePairing() async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            _ = try await register(&companion)
            try await companion.send(companion.logic.companionHello(phone: "15550002222", id: "h1"))
            let answer = try await companion.next()
            #expect(answer.child(named: "link_code_companion_reg")?.child(named: "link_code_pairing_ref") != nil)
            #expect(simulator.status().pendingCodeRequests == 1)

            let code = try #require(companion.logic.code).display
            async let entered = simulator.enterCode(code, phone: "15550002222")
            let hello = try await companion.next()
            #expect(hello.child(named: "link_code_companion_reg")?["stage"] == "primary_hello")
            try await companion.send(CompanionLogic.ack(notification: hello))
            try await companion.send(try companion.logic.companionFinish(primaryHello: hello, phone: "15550002222", id: "f1"))
            #expect(try await companion.next() == ServerStanzas.result(id: "f1"))
            _ = try await answerPairSuccess(&companion).get()
            #expect(try await companion.next() == ServerStanzas.streamError(code: 515))
            await companion.close()
            guard case .paired(let device) = try await entered else {
                Issue.record("not paired")
                return
            }
            #expect(device.method == .code)
            #expect(device.phoneNumber == "15550002222")
            #expect(simulator.status().pendingCodeRequests == 0)
        }
    }

    /// A wrong code fails the phone's step; entering a code nobody asked for is refused.
    @Test func wrongCode() async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            _ = try await register(&companion)
            await #expect(throws: SimulatorError(.noPendingCodeRequest)) {
                try await simulator.enterCode("ABCD-EFGH", phone: "15550003333")
            }
            try await companion.send(companion.logic.companionHello(phone: "15550003333", id: "h1"))
            _ = try await companion.next()
            let right = try #require(companion.logic.code).characters
            async let entered = simulator.enterCode(right == "ZZZZZZZZ" ? "YYYYYYYY" : "ZZZZZZZZ", phone: "15550003333")
            let hello = try await companion.next()
            try await companion.send(try companion.logic.companionFinish(primaryHello: hello, phone: "15550003333", id: "f1"))
            #expect(try await companion.next() == ServerStanzas.result(id: "f1"))
            do {
                _ = try await entered
                Issue.record("no failure")
            } catch { #expect(error as? SimulatorError == SimulatorError(.wrongCode)) }
            let invalid = await #expect(throws: SimulatorError.self) {
                try await simulator.enterCode("ABC", phone: "15550003333")
            }
            #expect(invalid?.code == .invalidCode)
        }
    }

    /// Scanning a QR of no live connection, or garbage, is refused.
    @Test func scanErrors() async throws {
        try await withSimulator { simulator, _ in
            await #expect(throws: SimulatorError(.noSuchConnection)) {
                try await simulator.scan(qr: CompanionLogic().qr(ref: "2@abc"))
            }
            let error = await #expect(throws: SimulatorError.self) { try await simulator.scan(qr: "hello") }
            #expect(error?.code == .invalidQR)
            let phone = await #expect(throws: SimulatorError.self) {
                try await simulator.scan(qr: CompanionLogic().qr(ref: "2@abc"), phone: "0123")
            }
            #expect(phone?.code == .invalidPhoneNumber)
        }
    }

    /// The phone's step fails with "timeout" when the companion stays silent.
    @Test func phoneTimeout() async throws {
        try await withSimulator(.roomy { $0.phoneReplyTimeout = .milliseconds(300) }) { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let silent = simulator.scan(qr: qr)
            _ = try await companion.next()
            do {
                _ = try await silent
                Issue.record("no failure")
            } catch { #expect(error as? SimulatorError == SimulatorError(.timeout)) }
        }
    }

    /// The phone's step fails with "connection gone" when the companion disconnects instead of answering.
    @Test func connectionGone() async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let gone = simulator.scan(qr: qr)
            _ = try await companion.next()
            await companion.close()
            do {
                _ = try await gone
                Issue.record("no failure")
            } catch { #expect(error as? SimulatorError == SimulatorError(.connectionGone)) }
        }
    }

    /// With short ref lifetimes the server closes the registration connection once its refs ran out.
    @Test func refsRunOut() async throws {
        let configuration = SimulatorConfiguration.roomy {
            $0.refsCount = 2
            $0.firstRefLifetime = .milliseconds(500)
            $0.laterRefLifetime = .milliseconds(250)
        }
        try await withSimulator(configuration) { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            // pair-device is not acked: the companion writes nothing once the refs' clock runs, so a
            // machine slower than the refs cannot turn the server's close into a failed write.
            let pairDevice = try await companion.next()
            #expect(CompanionLogic.refs(pairDevice).count == 2)
            #expect(try await companion.drainUntilClosed().isEmpty)
            try await eventually { simulator.status().registrationConnections == 0 }
        }
    }

    /// Certificates written to files and loaded back (`TLSMode.files`) serve TLS the same way.
    @Test func certificateFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-sim-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mode = try SimulatorCertificates.generate().write(to: directory)
        guard case .files(_, let keyPath, let caPath) = mode else {
            Issue.record("not files")
            return
        }
        let permissions = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        try await withSimulator(.roomy { $0.tls = mode }) { simulator, endpoints in
            #expect(endpoints.caFilePath == caPath)
            #expect(simulator.caPEM == (try String(contentsOfFile: try #require(caPath), encoding: .utf8)))
            var companion = try await WireCompanion.connect(endpoints)
            #expect(try await register(&companion).count == 6)
        }
        let error = #expect(throws: SimulatorError.self) {
            try Simulator(
                configuration: SimulatorConfiguration(rootPrivateKeyHex: "12"),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "x"))
        }
        #expect(error?.code == .invalidConfiguration)
    }

    /// A configured root private key gives the matching public key; a configured phone keeps its identity.
    @Test func configuredKeys() async throws {
        let root = KeyPair.generate()
        let identity = KeyPair.generate()
        let configuration = SimulatorConfiguration.roomy {
            $0.tls = .disabled
            $0.rootPrivateKeyHex = Hex.encode(root.privateKey)
            $0.phones = [PhoneAccount(number: "15550006666", identityPrivateKeyHex: Hex.encode(identity.privateKey), lid: "123456")]
        }
        try await withSimulator(configuration) { simulator, endpoints in
            #expect(endpoints.rootPublicKeyHex == Hex.encode(root.publicKey))
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let scanned = simulator.phone("15550006666").scan(qr: qr)
            let verified = try await answerPairSuccess(&companion).get()
            #expect(verified.account.primaryIdentityPublicKey == identity.publicKey)
            guard case .paired(let device) = try await scanned else {
                Issue.record("not paired")
                return
            }
            #expect(device.lid == "123456:1@lid")
        }
    }

    /// A client that never completes the handshake is dropped after the handshake timeout.
    @Test func handshakeTimeout() async throws {
        try await withSimulator(
            .roomy {
                $0.tls = .disabled
                $0.handshakeTimeout = .milliseconds(200)
            }
        ) { simulator, endpoints in
            guard
                case .upgraded(let socket) = try await TestWebSocket.connect(
                    url: endpoints.webSocketURL, caFile: nil, group: MultiThreadedEventLoopGroup.singleton)
            else {
                Issue.record("refused")
                return
            }
            #expect(try await socket.receive(timeout: .seconds(10)) == nil)
            try await eventually { simulator.status().openConnections == 0 }
        }
    }

    /// Many registration connections open at once are all tracked and all leave the state when closed.
    @Test func manyOpenConnections() async throws {
        try await withSimulator(.roomy { $0.tls = .disabled }) { simulator, endpoints in
            let count = 200
            var companions: [WireCompanion] = []
            try await withThrowingTaskGroup(of: WireCompanion.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        var companion = try await WireCompanion.connect(endpoints)
                        _ = try await register(&companion)
                        return companion
                    }
                }
                for try await companion in group { companions.append(companion) }
            }
            #expect(simulator.status().registrationConnections == count)
            #expect(simulator.status().openConnections == count)
            for companion in companions { await companion.close() }
            try await eventually { simulator.status().openConnections == 0 }
            #expect(simulator.status().registrationConnections == 0)
        }
    }

    /// Stopping closes open connections and the listener.
    @Test func stopClosesConnections() async throws {
        var logger = Logger(label: "simulator-test")
        logger.logLevel = .warning
        let simulator = try Simulator(
            configuration: .roomy { $0.tls = .disabled }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        let endpoints = try await simulator.start()
        await #expect(throws: SimulatorError(.alreadyStarted)) { try await simulator.start() }
        var companion = try await WireCompanion.connect(endpoints)
        _ = try await register(&companion)
        await simulator.stop()
        #expect(try await companion.drainUntilClosed().isEmpty)
        await #expect(throws: (any Error).self) { try await WireCompanion.connect(endpoints) }
    }

    /// `run()` serves until its task is cancelled.
    @Test func runUntilCancelled() async throws {
        var logger = Logger(label: "simulator-test")
        logger.logLevel = .warning
        let simulator = try Simulator(
            configuration: .roomy { $0.tls = .disabled }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulator.run() }
            try await eventually { simulator.endpoints != nil }
            let endpoints = try #require(simulator.endpoints)
            var companion = try await WireCompanion.connect(endpoints)
            _ = try await register(&companion)
            group.cancelAll()
            try await group.waitForAll()
            #expect(simulator.endpoints == nil)
            #expect(try await companion.drainUntilClosed().isEmpty)
        }
    }
}
