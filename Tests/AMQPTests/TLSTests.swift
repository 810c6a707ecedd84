import AMQP
import Foundation
import Testing
import WalinkTestSupport

/// `amqps://` against private nodes with TLS listeners and a test CA made at run time
/// (`scripts/test-certificates`). The node's certificate names `localhost` only.
///
/// The tests point the "system trust store" at their own files (or at none), so they read nothing
/// outside the repository and their temporary directory; the real default, Debian's bundle, is
/// used by the `walink` program tests in GatewayTests. One test at a time: each starts a node.
@Suite(.serialized, .timeLimit(.minutes(5))) struct TLSTests {
    func configuration(
        _ broker: PrivateBroker, host: String = "localhost", systemTrust: String? = nil, ca: String? = nil,
        client: (certificate: String, key: String)? = nil
    ) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: broker.tlsURL(host: host))
        configuration.tlsSystemTrustFile = systemTrust
        configuration.tlsCAFile = ca
        configuration.tlsCertificateFile = client?.certificate
        configuration.tlsKeyFile = client?.key
        configuration.connectTimeoutSeconds = 30
        configuration.reconnectInitialDelay = 0.01
        return configuration
    }

    /// Connects, publishes with a confirm over the TLS connection and closes.
    func connectsAndPublishes(_ configuration: AMQPConfiguration) async throws {
        let client = AMQPClient(configuration: configuration, maxConnectAttempts: 1)
        try await withRunningClient(client) { client, _ in
            #expect(client.connectedNode?.port == configuration.nodes[0].port)
            let outcome = try await client.publish(AMQPMessage(body: [1]), exchange: "", routingKey: "nowhere", timeout: .seconds(60))
            #expect(outcome == .acked)
        }
    }

    /// The error that ends a client allowed a single attempt.
    func refusal(_ configuration: AMQPConfiguration) async -> AMQPError? {
        let client = AMQPClient(configuration: configuration, maxConnectAttempts: 1)
        do {
            try await client.run()
            return nil
        } catch let error as AMQPError {
            return error
        } catch {
            Issue.record("not an AMQPError: \(error)")
            return nil
        }
    }

    @Test func theBrokerIsVerifiedAgainstTheTrustedCAsAndItsHostName() async throws {
        try await TestCertificates.with { certificates in
            try await PrivateBroker.with(port: 5711, tls: certificates.listener(port: 5712)) { broker in
                // Accepted with the private CA.
                try await connectsAndPublishes(configuration(broker, ca: certificates.caFile))
                // Accepted through the system trust store alone (here a file of the test's own)...
                try await connectsAndPublishes(configuration(broker, systemTrust: certificates.caFile))
                // ...and the private CA adds to it rather than replacing it: with the system store
                // trusting the broker, an unrelated private CA changes nothing, and the reverse.
                try await connectsAndPublishes(configuration(broker, systemTrust: certificates.caFile, ca: certificates.otherCAFile))
                try await connectsAndPublishes(configuration(broker, systemTrust: certificates.otherCAFile, ca: certificates.caFile))

                // Refused: a CA that did not sign the broker's certificate.
                let wrongCA = await refusal(try configuration(broker, systemTrust: certificates.otherCAFile, ca: certificates.otherCAFile))
                #expect(wrongCA?.code == .tlsVerificationFailed)
                #expect(wrongCA?.message.contains("localhost:5712") == true)

                // Refused: the right CA, but the certificate is for localhost and we asked for 127.0.0.1.
                let wrongHost = await refusal(try configuration(broker, host: "127.0.0.1", ca: certificates.caFile))
                #expect(wrongHost?.code == .tlsVerificationFailed)
                #expect(wrongHost?.message.contains("not issued for 127.0.0.1") == true)

                // Refused before connecting: nothing to verify with.
                let noTrust = await refusal(try configuration(broker, systemTrust: certificates.path("no-such-bundle.crt")))
                #expect(noTrust?.code == .invalidConfiguration)

                // A plain client on the TLS port gets no AMQP handshake: never a silent success.
                var plain = try configuration(broker)
                plain.useTLS = false
                plain.connectTimeoutSeconds = 5
                #expect(await refusal(plain) != nil)
            }
        }
    }

    @Test func aBrokerThatRequiresAClientCertificateGetsOne() async throws {
        try await TestCertificates.with { certificates in
            let listener = certificates.listener(port: 5714, requireClientCertificate: true)
            try await PrivateBroker.with(port: 5713, tls: listener) { broker in
                // Accepted: a certificate from the CA the node trusts for clients.
                try await connectsAndPublishes(
                    configuration(
                        broker, ca: certificates.caFile, client: (certificates.clientCertificateFile, certificates.clientKeyFile)))

                // Refused: no certificate at all.
                let without = await refusal(try configuration(broker, ca: certificates.caFile))
                #expect(without?.code == .tlsHandshakeFailed)
                #expect(without?.message.contains("WALINK_AMQP_CERT_FILE") == true)

                // Refused: a certificate from a CA the node does not trust.
                let untrusted = await refusal(
                    try configuration(
                        broker, ca: certificates.caFile,
                        client: (certificates.otherClientCertificateFile, certificates.otherClientKeyFile)))
                #expect(untrusted?.code == .tlsHandshakeFailed)

                // Refused before connecting: a key that does not belong to the certificate.
                let mismatched = await refusal(
                    try configuration(broker, ca: certificates.caFile, client: (certificates.clientCertificateFile, certificates.otherClientKeyFile)))
                #expect(mismatched?.code == .invalidConfiguration)

                // Refused before connecting, without asking for a passphrase: an encrypted key.
                let encrypted = await refusal(
                    try configuration(
                        broker, ca: certificates.caFile, client: (certificates.clientCertificateFile, certificates.encryptedClientKeyFile)))
                #expect(encrypted?.code == .invalidConfiguration)
            }
        }
    }
}
