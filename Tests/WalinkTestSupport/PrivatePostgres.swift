import Foundation

/// A PostgreSQL server of a test's own (`scripts/postgres` on `port`, data in /tmp/walink-pg-PORT),
/// for what would disturb the shared one: freezing it, stopping and starting it under running
/// workers. It may also listen on `listen` and let `clients` (a network) log in with a password.
public struct PrivatePostgres: Sendable {
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

    /// A new, empty server (one left behind is removed first).
    public func start() async throws {
        try await run("stop")
        try await run("start")
    }

    /// Stops the server (thawed first, should it be frozen) and deletes its data.
    public func stop() async throws {
        try? await signal("CONT")
        try await run("stop")
    }

    /// Stops the server (every session cut), keeping its data.
    public func stopServer() async throws { try await run("stop-server") }
    /// Starts the stopped server again on its data; returns once it accepts connections.
    public func startServer() async throws { try await run("start-server") }

    /// Sends `signal` (STOP, CONT) to every process of the server: STOP freezes it, so connections
    /// are accepted by the kernel but nothing answers.
    public func signal(_ signal: String) async throws {
        let pidFile = "/tmp/walink-pg-\(port)/data/postmaster.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = text.split(separator: "\n").first else {
            throw BrokerControlError(message: "no postmaster.pid for the private server on port \(port)")
        }
        // The postmaster and its children (backends, background workers).
        let status = try await runProgramInBackground(
            "/bin/sh", ["-c", "kill -\(signal) \(pid) $(pgrep -P \(pid))"], environment: ProcessInfo.processInfo.environment,
            outputFile: "/dev/null")
        guard status == 0 else { throw BrokerControlError(message: "kill -\(signal) of the private server failed (\(status))") }
    }

    /// Starts the server, runs `body` and removes the server again, also when `body` throws.
    public func with<Result: Sendable>(_ body: (PrivatePostgres) async throws -> Result) async throws -> Result {
        try await withStarted(start: start, stop: stop) { try await body(self) }
    }

    private func run(_ command: String) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["WALINK_PG_PORT"] = "\(port)"
        environment["WALINK_PG_LISTEN"] = listen.joined(separator: ",")
        if let clients { environment["WALINK_PG_CLIENTS"] = clients }
        try await runScript("scripts/postgres", [command], environment: environment)
    }
}
