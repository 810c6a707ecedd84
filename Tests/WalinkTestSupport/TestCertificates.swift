import Foundation

/// Throw-away TLS material made at test time by `scripts/test-certificates` in a temporary
/// directory of its own (see that script for what each file is). Private keys are never committed.
public struct TestCertificates: Sendable {
    public let directory: URL

    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The test CA and the files it signed.
    public var caFile: String { path("ca.pem") }
    public var serverCertificateFile: String { path("server.pem") }
    public var serverKeyFile: String { path("server.key") }
    public var clientCertificateFile: String { path("client.pem") }
    public var clientKeyFile: String { path("client.key") }
    /// ``clientKeyFile`` encrypted with a passphrase.
    public var encryptedClientKeyFile: String { path("client-encrypted.key") }
    /// A CA unrelated to the broker's certificate, and a client certificate it signed.
    public var otherCAFile: String { path("other-ca.pem") }
    public var otherClientCertificateFile: String { path("other-client.pem") }
    public var otherClientKeyFile: String { path("other-client.key") }

    /// A TLS listener on `port` with the test CA's server certificate (DNS name `localhost` only).
    public func listener(port: Int, requireClientCertificate: Bool = false) -> PrivateBroker.TLSListener {
        PrivateBroker.TLSListener(
            port: port, caFile: caFile, certificateFile: serverCertificateFile, keyFile: serverKeyFile,
            requireClientCertificate: requireClientCertificate)
    }

    /// Makes fresh material, runs `body` with it and removes it again.
    public static func with<Result: Sendable>(_ body: (TestCertificates) async throws -> Result) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("walink-tls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = TestBroker.packageRoot.appendingPathComponent("scripts/test-certificates").path
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("walink-tls-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try await runProgramInBackground(
            script, [directory.path], environment: ProcessInfo.processInfo.environment, outputFile: log.path)
        guard status == 0 else {
            throw BrokerControlError(message: "scripts/test-certificates failed: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
        return try await body(TestCertificates(directory: directory))
    }
}
