import AMQP
import Foundation

/// A private 3-node RabbitMQ cluster (`scripts/broker-cluster`) on ports `basePort` … `basePort + 2`,
/// for tests that kill a node under a running worker.
public struct PrivateCluster: Sendable {
    public let basePort: Int
    /// Addresses the nodes listen on beside 127.0.0.1 (`WALINK_CLUSTER_LISTEN`).
    public let listen: [String]

    public init(basePort: Int = 5721, listen: [String] = []) {
        self.basePort = basePort
        self.listen = listen
    }

    /// The ports of nodes 1, 2 and 3.
    public var ports: [Int] { (0..<3).map { basePort + $0 } }

    /// Every node in one URL, as `WALINK_AMQP_URL` takes a cluster.
    public var url: String { url(host: "127.0.0.1") }

    /// Every node in one URL, reached through `host` (one of ``listen``, or 127.0.0.1).
    public func url(host: String) -> String { "amqp://guest:guest@" + ports.map { "\(host):\($0)" }.joined(separator: ",") + "/" }

    /// One node's URL (a client that must stay on that node).
    public func url(node: Int) -> String { "amqp://guest:guest@127.0.0.1:\(ports[node - 1])/" }

    /// The node number (1-3) listening on `port`.
    public func node(port: Int) -> Int? { ports.firstIndex(of: port).map { $0 + 1 } }

    public func configuration(url: String? = nil, heartbeat: Int = 5) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: url ?? self.url)
        configuration.heartbeatSeconds = heartbeat
        configuration.connectTimeoutSeconds = 5
        configuration.reconnectInitialDelay = 0.05
        configuration.reconnectMaxDelay = 0.5
        return configuration
    }

    public func start() async throws { try await run("start") }
    public func stop() async throws { try await run("stop") }
    /// SIGKILL of node `node`'s VM; returns once it is gone.
    public func kill(node: Int) async throws { try await run("kill", ["\(node)"]) }
    public func startNode(_ node: Int) async throws { try await run("start-node", ["\(node)"]) }

    /// Starts the cluster, runs `body` and removes the cluster again, also when `body` throws (the
    /// stop awaited off the cooperative pool, as ``PrivateBroker/with(port:tls:_:)`` does).
    public static func with<Result: Sendable>(
        basePort: Int = 5721, listen: [String] = [], _ body: (PrivateCluster) async throws -> Result
    ) async throws -> Result {
        let cluster = PrivateCluster(basePort: basePort, listen: listen)
        // A cluster left behind by an interrupted run would be joined, stale, instead of made anew.
        try await cluster.stop()
        return try await withStarted(start: cluster.start, stop: cluster.stop) { try await body(cluster) }
    }

    private func run(_ verb: String, _ extra: [String] = []) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["WALINK_CLUSTER_PORT"] = String(basePort)
        environment["WALINK_CLUSTER_LISTEN"] = listen.joined(separator: " ")
        try await runScript("scripts/broker-cluster", [verb] + extra, environment: environment)
    }
}
