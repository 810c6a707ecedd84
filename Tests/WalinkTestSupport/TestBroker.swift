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

    public init(port: Int) { self.port = port }

    public var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

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

    /// Starts a node on `port`, runs `body` with it and stops it again, also when `body` throws. The
    /// stop is awaited off the cooperative pool: a synchronous stop in a `defer` would hold one of
    /// its few threads for as long as the node takes to stop, stalling every other test meanwhile.
    public static func with<Result: Sendable>(port: Int, _ body: (PrivateBroker) async throws -> Result) async throws -> Result {
        let broker = PrivateBroker(port: port)
        try await broker.start()
        let result: Result
        do {
            result = try await body(broker)
        } catch {
            try? await broker.stop()
            throw error
        }
        try await broker.stop()
        return result
    }

    private var script: String { TestBroker.packageRoot.appendingPathComponent("scripts/broker").path }

    private var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["WALINK_BROKER_PORT"] = String(port)
        environment.removeValue(forKey: "WALINK_BROKER_DIR")
        return environment
    }

    private func run(_ verb: String, _ extra: [String] = []) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("walink-broker-\(port)-\(verb).log")
        let status = try await runProgramInBackground(script, [verb] + extra, environment: environment, outputFile: log.path)
        guard status == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw BrokerControlError(message: "scripts/broker \(verb) (port \(port)) failed: \(text)")
        }
    }
}

public struct BrokerControlError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
