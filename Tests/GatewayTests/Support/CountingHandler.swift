import Gateway
import Synchronization

/// A test command that counts how often it ran per `id`, optionally after a delay: the observable
/// side effect for "never executed twice".
final class CountingHandler: CommandHandler {
    let name = "test.count"
    var parameters: ParameterSchema {
        ParameterSchema([
            .init("id", .string(), required: true),
            .init("ms", .integer(range: 0...10_000)),
            .init("flag", .boolean),
        ])
    }
    var requiredCapability: Capability? { nil }

    private let executions = Mutex<[String: Int]>([:])

    func count(_ id: String) -> Int { executions.withLock { $0[id] ?? 0 } }
    var all: [String: Int] { executions.withLock { $0 } }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        let id = request.parameters["id"]?.stringValue ?? ""
        let runs = executions.withLock { counts -> Int in
            counts[id, default: 0] += 1
            return counts[id]!
        }
        if case .int(let milliseconds)? = request.parameters["ms"] {
            try? await Task.sleep(for: .milliseconds(milliseconds))
        }
        return CommandResult(body: ["id": .string(id), "runs": .int(Int64(runs))])
    }
}
