/// `worker.ping`: who answered, which version, and whether it is draining (not ready for new
/// pairings), for health checks and round-trip tests.
struct WorkerPing: CommandHandler {
    let workerID: String
    var links: LinkManager? = nil
    var name: String { "worker.ping" }
    var parameters: ParameterSchema { .empty }
    var requiredCapability: Capability? { nil }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        CommandResult(
            body: ["worker": .string(workerID), "version": .string(WalinkVersion.current), "draining": .bool(links?.isDraining ?? false)])
    }
}

public enum WalinkVersion {
    public static let current = "0.1.0"
}
