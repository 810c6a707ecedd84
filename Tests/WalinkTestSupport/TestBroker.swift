import AMQP
import Foundation

/// The broker the tests talk to. `scripts/test` starts a private node and exports
/// `WALINK_TEST_AMQP_URL`; without it the tests expect `scripts/broker start` (port 5699).
public enum TestBroker {
    public static var url: String {
        ProcessInfo.processInfo.environment["WALINK_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5699/"
    }

    public static func configuration(heartbeat: Int = 10) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url)
        configuration.heartbeatSeconds = heartbeat
        configuration.connectTimeoutSeconds = 5
        configuration.reconnectInitialDelay = 0.05
        configuration.reconnectMaxDelay = 1
        return configuration
    }

    /// The package root, found from this file's path.
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// A unique name for a test's queues and exchanges.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix).\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }
}

/// A broker node of a test's own (own port, own data directory), for tests that restart the broker
/// and must not disturb the tests sharing the main test broker.
public struct PrivateBroker: Sendable {
    public let port: Int
    /// The node's TLS listener, besides the plain one on ``port``.
    public let tls: TLSListener?

    /// A TLS listener (see `scripts/broker`): the node's certificate and key, and the CA its
    /// clients' certificates must come from when it requires them.
    public struct TLSListener: Sendable {
        public var port: Int
        public var caFile: String
        public var certificateFile: String
        public var keyFile: String
        public var requireClientCertificate: Bool

        public init(port: Int, caFile: String, certificateFile: String, keyFile: String, requireClientCertificate: Bool = false) {
            self.port = port
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.requireClientCertificate = requireClientCertificate
        }
    }

    public init(port: Int, tls: TLSListener? = nil) {
        self.port = port
        self.tls = tls
    }

    public var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

    /// The node's TLS listener as `amqps://` reaches it through `host`.
    public func tlsURL(host: String = "localhost") -> String {
        "amqps://guest:guest@\(host):\(tls?.port ?? 0)/"
    }

    public func configuration(heartbeat: Int = 5) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url)
        configuration.heartbeatSeconds = heartbeat
        configuration.connectTimeoutSeconds = 5
        configuration.reconnectInitialDelay = 0.05
        configuration.reconnectMaxDelay = 0.5
        return configuration
    }

    public func start() async throws { try await run("start") }
    public func stop() async throws { try await run("stop") }
    public func restart() async throws { try await run("restart") }

    /// Runs `rabbitmqctl` against this node (`scripts/broker ctl ...`).
    public func control(_ arguments: [String]) async throws { try await run("ctl", arguments) }

    /// Freezes the node's Erlang VM (SIGSTOP): connections are still accepted by the kernel and
    /// what clients send is buffered, but nothing answers. ``resume()`` (or a stop) thaws it.
    public func pause() async throws { try await run("pause") }
    public func resume() async throws { try await run("resume") }

    /// Starts a node on `port`, runs `body` with it and stops it again, also when `body` throws. The
    /// stop is awaited off the cooperative pool: a synchronous stop in a `defer` would hold one of
    /// its few threads for as long as the node takes to stop, stalling every other test meanwhile.
    public static func with<Result: Sendable>(
        port: Int, tls: TLSListener? = nil, _ body: (PrivateBroker) async throws -> Result
    ) async throws -> Result {
        let broker = PrivateBroker(port: port, tls: tls)
        return try await withStarted(start: broker.start, stop: broker.stop) { try await body(broker) }
    }

    private var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["WALINK_BROKER_PORT"] = String(port)
        environment.removeValue(forKey: "WALINK_BROKER_DIR")
        for key in environment.keys where key.hasPrefix("WALINK_BROKER_TLS_") { environment.removeValue(forKey: key) }
        if let tls {
            environment["WALINK_BROKER_TLS_PORT"] = String(tls.port)
            environment["WALINK_BROKER_TLS_CA"] = tls.caFile
            environment["WALINK_BROKER_TLS_CERT"] = tls.certificateFile
            environment["WALINK_BROKER_TLS_KEY"] = tls.keyFile
            if tls.requireClientCertificate { environment["WALINK_BROKER_TLS_CLIENT_CERT"] = "required" }
        }
        return environment
    }

    private func run(_ verb: String, _ extra: [String] = []) async throws {
        try await runScript("scripts/broker", [verb] + extra, environment: environment)
    }
}

public struct BrokerControlError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
