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
        return try await withStarted(start: network.up, stop: network.down) { try await body(network) }
    }

    static func script(_ arguments: [String]) async throws {
        try await runScript("scripts/netns-fleet", arguments)
    }
}
