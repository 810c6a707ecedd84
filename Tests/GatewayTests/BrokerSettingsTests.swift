import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport

/// The `walink` programs read the broker settings that go with `WALINK_AMQP_URL`: a node list, and
/// TLS with `WALINK_AMQP_CA_FILE` (with the real default trust store, Debian's bundle, loaded too).
@Suite(.timeLimit(.minutes(5))) struct BrokerSettingsTests {
    /// Far above what an answer takes, so a busy machine never turns a slow answer into exit 3.
    let patience = ["--timeout", "120"]

    @Test func walinkCallGoesPastADeadNodeOfTheList() async throws {
        let worker = try await TestWorker.start()
        let live = try #require(try TestBroker.configuration().nodes.first)
        // Whichever order the program shuffles the two into, the dead node is skipped.
        for _ in 0..<3 {
            let result = try await runWalink(
                ["call", "worker.ping"] + patience,
                environment: ["WALINK_AMQP_URL": "amqp://guest:guest@127.0.0.1:1,\(live)/", "WALINK_TOPOLOGY_PREFIX": worker.names.prefix])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.hasPrefix("status: 200\n"))
        }
        await worker.stop()
    }

    @Test func theWorkerAndWalinkCallSpeakTLSWithAPrivateCA() async throws {
        try await TestCertificates.with { certificates in
            try await PrivateBroker.with(port: 5718, tls: certificates.listener(port: 5719)) { broker in
                let names = WalinkNames(prefix: TestBroker.uniqueName("t") + ".")
                let tls = [
                    "WALINK_AMQP_URL": broker.tlsURL(), "WALINK_AMQP_CA_FILE": certificates.caFile,
                    "WALINK_TOPOLOGY_PREFIX": names.prefix,
                ]
                let worker = try WalinkProcess(["worker"], environment: tls.merging(["WALINK_WORKER_ID": "tls-worker"]) { $1 })
                #expect(await worker.line(containing: "AMQP connected") != nil)

                let answered = try await runWalink(["call", "worker.ping"] + patience, environment: tls)
                #expect(answered.status == 0, "\(answered.output)")
                #expect(answered.output.contains("\"tls-worker\""))

                // Without the private CA only the system's CAs are trusted, and they did not sign
                // the test broker's certificate: exit 2 with the reason, and no password.
                var untrusted = tls
                untrusted["WALINK_AMQP_CA_FILE"] = ""
                let refused = try await runWalink(["call", "worker.ping"] + patience, environment: untrusted)
                #expect(refused.status == 2)
                #expect(refused.output.contains("tls_verification_failed"))
                #expect(refused.output.contains("amqps://guest@localhost:5719/"))
                #expect(!refused.output.contains("guest:guest"))

                // A setting that cannot work stops the program before it connects.
                var noKey = tls
                noKey["WALINK_AMQP_CERT_FILE"] = certificates.clientCertificateFile
                let misconfigured = try await runWalink(["call", "worker.ping"] + patience, environment: noKey)
                #expect(misconfigured.status != 0)
                #expect(misconfigured.output.contains("WALINK_AMQP_KEY_FILE"))

                #expect(await worker.terminate() == 0)
            }
        }
    }
}
