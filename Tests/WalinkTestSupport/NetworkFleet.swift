import Foundation

/// Network namespaces that make each worker a host of its own (`scripts/netns-fleet`): the services
/// (PostgreSQL, the RabbitMQ cluster, the simulator) listen on ``servicesAddress`` in the root
/// namespace, and namespace N reaches it over its own veth pair (10.231.N.2 → 10.231.N.1). Needs
/// root and nftables. Only 10.231.0.0/16 is used.
public struct NetworkFleet: Sendable {
    /// A name unique to this test run: its namespaces are `wf<run>-1` … `wf<run>-<count>`.
    public let run: String
    public let count: Int
    public static let servicesAddress = "10.231.0.1"
    /// The network every namespace's address is in (what PostgreSQL must let in).
    public static let network = "10.231.0.0/16"

    public init(count: Int) {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        run = String((0..<6).map { _ in alphabet.randomElement()! })
        self.count = count
    }

    /// Namespace `n` (1-based).
    public func namespace(_ n: Int) -> String { "wf\(run)-\(n)" }

    public func up() async throws { try await Self.script(["up", run, "\(count)"]) }
    public func down() async throws { try await Self.script(["down", run]) }
    /// nftables in namespace `n` drops every packet to the services address on `port` (connections
    /// already open included) until ``heal(_:)``.
    public func partition(_ n: Int, port: Int) async throws { try await Self.script(["partition", run, "\(n)", "\(port)"]) }
    public func heal(_ n: Int) async throws { try await Self.script(["heal", run, "\(n)"]) }

    /// Creates the namespaces, runs `body`, and deletes them again, also when `body` throws.
    public static func with<Result: Sendable>(count: Int, _ body: (NetworkFleet) async throws -> Result) async throws -> Result {
        // Leftovers of an interrupted run would hold the addresses.
        try await script(["clean"])
        let network = NetworkFleet(count: count)
        try await network.up()
        let result: Result
        do {
            result = try await body(network)
        } catch {
            try? await network.down()
            throw error
        }
        try await network.down()
        return result
    }

    static func script(_ arguments: [String]) async throws {
        try await runScript("scripts/netns-fleet", arguments, environment: [:])
    }
}

/// Runs one of the package's scripts to completion; throws with its output when it fails.
func runScript(_ script: String, _ arguments: [String], environment extra: [String: String]) async throws {
    let path = TestBroker.packageRoot.appendingPathComponent(script).path
    var environment = ProcessInfo.processInfo.environment
    for (key, value) in extra { environment[key] = value }
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("walink-script-\(UUID().uuidString).log")
    defer { try? FileManager.default.removeItem(at: log) }
    let status = try await runProgramInBackground(path, arguments, environment: environment, outputFile: log.path)
    guard status == 0 else {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw BrokerControlError(message: "\(script) \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
    }
}

/// A private PostgreSQL server of its own (`scripts/postgres` on `port`, data in /tmp/walink-pg-PORT)
/// that also listens on `listen` and lets `clients` log in: the fleet test's database, which it
/// stops and starts again under running workers.
public struct FleetPostgres: Sendable {
    public let port: Int
    public let listen: [String]
    public let clients: String?
    public static let password = "walink-test-password"

    public init(port: Int, listen: [String] = [], clients: String? = nil) {
        self.port = port
        self.listen = listen
        self.clients = clients
    }

    /// The URL of database `walink_test` through `host`.
    public func url(host: String = "127.0.0.1") -> String {
        "postgres://walink:\(Self.password)@\(host):\(port)/walink_test?sslmode=disable"
    }

    private var environment: [String: String] {
        var environment = ["WALINK_PG_PORT": "\(port)", "WALINK_PG_LISTEN": listen.joined(separator: ",")]
        if let clients { environment["WALINK_PG_CLIENTS"] = clients }
        return environment
    }

    /// A new, empty server (one left behind is removed first).
    public func start() async throws {
        try await runScript("scripts/postgres", ["stop"], environment: environment)
        try await runScript("scripts/postgres", ["start"], environment: environment)
    }

    /// Stops the server and deletes its data.
    public func stop() async throws { try await runScript("scripts/postgres", ["stop"], environment: environment) }
    /// Stops the server (every session cut), keeping its data.
    public func stopServer() async throws { try await runScript("scripts/postgres", ["stop-server"], environment: environment) }
    /// Starts the stopped server again on its data; returns once it accepts connections.
    public func startServer() async throws { try await runScript("scripts/postgres", ["start-server"], environment: environment) }

    /// Starts the server, runs `body` and removes the server again, also when `body` throws.
    public func with<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await start()
        let result: Result
        do {
            result = try await body()
        } catch {
            try? await stop()
            throw error
        }
        try await stop()
        return result
    }
}
