import Foundation
import NIOHTTP1
import Testing
import WhatsAppProtocol

@testable import WhatsAppSimulator

@Suite struct ControlAPITests {
    private func json(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object))
    }

    /// Over HTTP: status (root key, CA file, URL), scan of a live companion's QR → `paired` with the
    /// device, and the status then lists it.
    @Test func statusAndScan() async throws {
        let configuration = SimulatorConfiguration.roomy {
            $0.controlPort = 0
            $0.phones = [PhoneAccount(number: "15550007777", pushName: "Alice", platform: "iphone")]
        }
        try await withSimulator(configuration) { simulator, endpoints in
            let control = try #require(endpoints.controlURL)
            #expect(control.hasPrefix("http://127.0.0.1:"))

            let status = try await TestHTTPClient.request(.GET, control + "/status")
            #expect(status.status == 200)
            let body = try status.json()
            #expect(body["rootPublicKeyHex"] as? String == simulator.rootPublicKeyHex)
            #expect(body["caFilePath"] as? String == endpoints.caFilePath)
            #expect(body["webSocketURL"] as? String == endpoints.webSocketURL)
            #expect(body["defaultPhone"] as? String == "15550007777")
            #expect((body["pairedDevices"] as? [Any])?.isEmpty == true)

            let ca = try await TestHTTPClient.request(.GET, control + "/ca")
            #expect(String(decoding: ca.body, as: UTF8.self) == simulator.caPEM)

            var companion = try await WireCompanion.connect(endpoints)
            let refs = try await register(&companion)
            let qr = companion.logic.qr(ref: refs[0])
            async let scanned = TestHTTPClient.request(.POST, control + "/scan", body: try json(["qr": qr]))
            let verified = try await answerPairSuccess(&companion).get()
            #expect(verified.account.primaryIdentityPublicKey.count == 32)
            let response = try await scanned
            #expect(response.status == 200)
            let outcome = try response.json()
            #expect(outcome["outcome"] as? String == "paired")
            let device = try #require(outcome["device"] as? [String: Any])
            #expect(device["jid"] as? String == "15550007777:1@s.whatsapp.net")
            #expect(device["method"] as? String == "qr")

            let after = try await TestHTTPClient.request(.GET, control + "/status").json()
            #expect((after["pairedDevices"] as? [Any])?.count == 1)
            let phones = try #require(after["phones"] as? [[String: Any]])
            #expect(phones.first?["platform"] as? String == "iphone")

            // The connection record: whose it is (the Noise key its QR carried) and its frames' times.
            let listed = try await TestHTTPClient.request(.GET, control + "/connections").json()
            let connections = try #require(listed["connections"] as? [[String: Any]])
            #expect(connections.count == 1)
            let record = try #require(connections.first)
            #expect(record["kind"] as? String == "registration")
            #expect(record["peer"] as? String == "127.0.0.1")
            #expect((record["noiseKey"] as? String)?.count == 64)
            #expect(qr.contains(Data(Hex.decode(record["noiseKey"] as? String ?? "") ?? []).base64EncodedString()))
            #expect((record["frames"] as? Int ?? 0) >= 2)
            let first = try #require(record["firstFrame"] as? Int)
            let last = try #require(record["lastFrame"] as? Int)
            #expect(first <= last)
            #expect(simulator.connections.map(\.id) == [UInt64(record["id"] as? Int ?? -1)])
        }
    }

    /// Faults over HTTP (phone scope) and code entry over HTTP; errors map to HTTP statuses.
    @Test func faultsAndCode() async throws {
        try await withSimulator(.roomy { $0.controlPort = 0 }) { _, endpoints in
            let control = try #require(endpoints.controlURL)
            let set = try await TestHTTPClient.request(
                .POST, control + "/faults",
                body: try json([
                    "scope": "phone", "phone": "15550008888",
                    "faults": ["companionHelloRefusal": ["code": 429, "text": "rate-overlimit", "backoffSeconds": 12]],
                ]))
            #expect(set.status == 200)

            var companion = try await WireCompanion.connect(endpoints)
            _ = try await register(&companion)
            try await companion.send(companion.logic.companionHello(phone: "15550008888", id: "a"))
            #expect(try await companion.next() == ServerStanzas.error(id: "a", code: 429, text: "rate-overlimit", backoffSeconds: 12))
            try await companion.send(companion.logic.companionHello(phone: "15550008888", id: "b"))
            #expect(try await companion.next()["type"] == "result")

            let code = try #require(companion.logic.code).display
            async let entered = TestHTTPClient.request(
                .POST, control + "/code", body: try json(["code": code, "phone": "15550008888"]))
            let hello = try await companion.next()
            try await companion.send(CompanionLogic.ack(notification: hello))
            try await companion.send(try companion.logic.companionFinish(primaryHello: hello, phone: "15550008888", id: "f"))
            #expect(try await companion.next() == ServerStanzas.result(id: "f"))
            _ = try await answerPairSuccess(&companion).get()
            let response = try await entered
            #expect(response.status == 200)
            #expect(try response.json()["outcome"] as? String == "paired")

            let noCode = try await TestHTTPClient.request(
                .POST, control + "/code", body: try json(["code": "ABCD-EFGH", "phone": "15550008888"]))
            #expect(noCode.status == 404)
            #expect(try noCode.json()["error"] as? String == "no-pending-code-request")
            let badQR = try await TestHTTPClient.request(.POST, control + "/scan", body: try json(["qr": "nope"]))
            #expect(badQR.status == 400)
            #expect(try badQR.json()["error"] as? String == "invalid-qr")
            let garbage = try await TestHTTPClient.request(.POST, control + "/scan", body: Array("{".utf8))
            #expect(garbage.status == 400)
            let missing = try await TestHTTPClient.request(.GET, control + "/nothing")
            #expect(missing.status == 404)
            let wrongMethod = try await TestHTTPClient.request(.GET, control + "/scan")
            #expect(wrongMethod.status == 405)
        }
    }

    /// The API without HTTP: fault scopes and clearing reach the simulator.
    @Test func directFaults() async throws {
        try await withSimulator(.roomy { $0.tls = .disabled }) { simulator, endpoints in
            let api = ControlAPI(simulator: simulator)
            let response = await api.respond(
                method: "POST", path: "/control/faults",
                body: try json(["scope": "next-connection", "faults": ["wrongRootKey": true]]))
            #expect(response.status == 200)
            await #expect(throws: CompanionCodec.Failure.self) { try await WireCompanion.connect(endpoints) }
            _ = await api.respond(
                method: "POST", path: "/control/faults", body: try json(["scope": "global", "faults": ["wrongRootKey": true]]))
            await #expect(throws: CompanionCodec.Failure.self) { try await WireCompanion.connect(endpoints) }
            let cleared = await api.respond(method: "POST", path: "/control/faults", body: try json(["clear": true]))
            #expect(cleared.status == 200)
            _ = try await WireCompanion.connect(endpoints)
            let badScope = await api.respond(method: "POST", path: "/control/faults", body: try json(["scope": "moon"]))
            #expect(badScope.status == 400)
        }
    }
}
