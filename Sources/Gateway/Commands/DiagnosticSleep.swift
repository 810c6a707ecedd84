/// `diag.sleep {"ms": N}`: answers after N milliseconds. Only with `WALINK_DIAGNOSTIC_COMMANDS=1`,
/// for operational tests of slow commands (timeouts, graceful shutdown with work in flight).
struct DiagnosticSleep: CommandHandler {
    var name: String { "diag.sleep" }
    var parameters: ParameterSchema { ParameterSchema([.init("ms", .integer(range: 0...60_000), required: true)]) }
    var requiredCapability: Capability? { nil }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        guard case .int(let milliseconds) = request.parameters["ms"] else { throw .invalidField("ms", "required") }
        do {
            try await Task.sleep(for: .milliseconds(milliseconds))
        } catch {
            throw GatewayError(.unavailable, "the worker is shutting down")
        }
        return CommandResult(body: ["slept": .int(milliseconds)])
    }
}
