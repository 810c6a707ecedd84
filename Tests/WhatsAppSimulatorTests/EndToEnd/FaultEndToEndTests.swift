import Foundation
import NIOCore
import Testing
import WhatsAppProtocol

@testable import WhatsAppSimulator

@Suite struct FaultEndToEndTests {
    /// Wrong root for the next connection: the companion's certificate check refuses the handshake; the
    /// connection after it is fine again.
    @Test func wrongRootKey() async throws {
        try await withSimulator { simulator, endpoints in
            simulator.setFaults(SimulatorFaults(wrongRootKey: true), for: .nextConnection)
            let error = await #expect(throws: CompanionCodec.Failure.self) { try await WireCompanion.connect(endpoints) }
            #expect(error == .certificate(CertificateError(.intermediateSignatureInvalid)))
            var companion = try await WireCompanion.connect(endpoints)
            #expect(try await register(&companion).count == 6)
        }
    }

    /// A global wrong root applies to every connection until cleared.
    @Test func globalWrongRoot() async throws {
        try await withSimulator(.roomy { $0.faults = SimulatorFaults(wrongRootKey: true) }) { simulator, endpoints in
            for _ in 0..<2 {
                await #expect(throws: CompanionCodec.Failure.self) { try await WireCompanion.connect(endpoints) }
            }
            simulator.clearFaults()
            _ = try await WireCompanion.connect(endpoints)
        }
    }

    /// Bad HMAC / bad account signature on the wire: the companion refuses with whatsmeow's error iq and the
    /// phone's scan reports it.
    @Test(arguments: [
        (PairSuccessFault.badHMAC, PairSuccessError.Code.hmacMismatch, "401 hmac-mismatch"),
        (.badAccountSignature, .signatureMismatch, "401 signature-mismatch"),
    ])
    func pairSuccessFaults(fault: PairSuccessFault, expected: PairSuccessError.Code, detail: String) async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let scanned = simulator.scan(qr: qr, faults: SimulatorFaults(pairSuccess: fault))
            let result = try await answerPairSuccess(&companion)
            #expect(throws: PairSuccessError(expected)) { try result.get() }
            do {
                _ = try await scanned
                Issue.record("no failure")
            } catch {
                #expect(error as? SimulatorError == SimulatorError(.companionRejected, detail: detail))
            }
            #expect(simulator.pairedDevices.isEmpty)
        }
    }

    /// Dropped mid-pairing: the scan reports it and the companion sees the socket close without pair-success.
    @Test func dropAfterScan() async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            simulator.setFaults(SimulatorFaults(dropAfterScan: true), for: .phone("15550001111"))
            let outcome = try await simulator.scan(qr: companion.logic.qr(ref: refs[0]), phone: "15550001111")
            #expect(outcome == .connectionDropped)
            #expect(try await companion.drainUntilClosed().isEmpty)
        }
    }

    /// `companion_reg_refresh` after the scan; the old QR then fails on the companion's HMAC check; the
    /// re-rendered one pairs.
    @Test func companionRegRefresh() async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let oldQR = companion.logic.qr(ref: refs[0])
            async let refreshed = simulator.scan(qr: oldQR, faults: SimulatorFaults(companionRegRefreshAfterScan: true))
            let notification = try await companion.next()
            #expect(notification["type"] == "companion_reg_refresh")
            companion.logic.refresh()
            try await companion.send(CompanionLogic.ack(notification: notification))
            #expect(try await refreshed == .companionRegRefreshSent)

            async let stale = simulator.scan(qr: oldQR)
            let staleResult = try await answerPairSuccess(&companion)
            #expect(throws: PairSuccessError(.hmacMismatch)) { try staleResult.get() }
            do {
                _ = try await stale
                Issue.record("no failure")
            } catch {
                #expect((error as? SimulatorError)?.code == .companionRejected)
            }

            let newQR = companion.logic.qr(ref: refs[0])
            async let fresh = simulator.scan(qr: newQR)
            _ = try await answerPairSuccess(&companion).get()
            guard case .paired = try await fresh else {
                Issue.record("not paired")
                return
            }
        }
    }

    /// The passkey prologue request is sent after the scan and acknowledged; no pair-success follows and
    /// the connection stays.
    @Test func passkeyRequest() async throws {
        try await withSimulator { simulator, endpoints in
            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let requested = simulator.scan(qr: qr, faults: SimulatorFaults(passkeyRequestAfterScan: true))
            let notification = try await companion.next()
            #expect(notification["type"] == "passkey_prologue_request")
            #expect(notification.child(named: "passkey_request_options")?.contentBytes?.isEmpty == false)
            try await companion.send(CompanionLogic.ack(notification: notification))
            #expect(try await requested == .passkeyRequestSent)
            let to = BinaryNode.AttributeValue.jid(.serverJID)
            try await companion.send(BinaryNode("iq", ["id": "k", "xmlns": "w:p", "type": "get", "to": to]))
            #expect(try await companion.next() == ServerStanzas.result(id: "k"))
        }
    }

    /// Code refusals by phone number: 429 rate-overlimit with backoff once, then the next request for that
    /// number is accepted; another number is never affected.
    @Test func companionHelloRefusals() async throws {
        try await withSimulator { simulator, endpoints in
            simulator.setFaults(
                SimulatorFaults(companionHelloRefusal: .rateOverlimit(backoffSeconds: 30)), for: .phone("15550004444"))
            var companion = try await WireCompanion.connect(endpoints)
            _ = try await register(&companion)
            try await companion.send(companion.logic.companionHello(phone: "15550005555", id: "a"))
            #expect(try await companion.next()["type"] == "result")
            try await companion.send(companion.logic.companionHello(phone: "15550004444", id: "b"))
            let refused = try await companion.next()
            #expect(refused == ServerStanzas.error(id: "b", code: 429, text: "rate-overlimit", backoffSeconds: 30))
            try await companion.send(companion.logic.companionHello(phone: "15550004444", id: "c"))
            #expect(try await companion.next()["type"] == "result")

            simulator.setFaults(SimulatorFaults(companionHelloRefusal: .badRequest), for: .global)
            try await companion.send(companion.logic.companionHello(phone: "15550004444", id: "d"))
            #expect(try await companion.next() == ServerStanzas.error(id: "d", code: 400, text: "bad-request"))
        }
    }

    /// 100 sessions pair at once over TLS, each with its own phone; one phone has a bad-HMAC fault and
    /// only its session fails.
    @Test func hundredSessionsOneFault() async throws {
        try await withSimulator { simulator, endpoints in
            let faulty = 42
            simulator.setFaults(SimulatorFaults(pairSuccess: .badHMAC), for: .phone(phone(faulty)))
            let results = try await withThrowingTaskGroup(of: (Int, Bool, Bool).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        var companion = try await WireCompanion.connect(endpoints)
                        let refs = try await register(&companion)
                        let qr = companion.logic.qr(ref: refs[index % refs.count])
                        async let scanned = simulator.scan(qr: qr, phone: phone(index))
                        let verified = (try? await answerPairSuccess(&companion).get()) != nil
                        let paired: Bool
                        do {
                            if case .paired = try await scanned { paired = true } else { paired = false }
                        } catch {
                            paired = false
                        }
                        await companion.close()
                        return (index, verified, paired)
                    }
                }
                var results: [Int: (Bool, Bool)] = [:]
                for try await (index, verified, paired) in group { results[index] = (verified, paired) }
                return results
            }
            #expect(results.count == 100)
            for (index, (verified, paired)) in results {
                #expect(verified == (index != faulty), "session \(index)")
                #expect(paired == (index != faulty), "session \(index)")
            }
            #expect(simulator.pairedDevices.count == 99)
            #expect(Set(simulator.pairedDevices.map(\.phoneNumber)).count == 99)
        }
    }

    private func phone(_ index: Int) -> String {
        "1555100" + String(format: "%04d", index)
    }
}
