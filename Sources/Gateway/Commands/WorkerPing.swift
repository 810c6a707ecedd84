/// `worker.ping`: who answered and which version, for health checks and round-trip tests.
struct WorkerPing: CommandHandler {
    let workerID: String
    var name: String { "worker.ping" }
    var parameters: ParameterSchema { .empty }
    var requiredCapability: Capability? { nil }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        CommandResult(body: ["worker": .string(workerID), "version": .string(WalinkVersion.current)])
    }
}

public enum WalinkVersion {
    public static let current = "0.1.0"
}
