import AMQP
import ArgumentParser
import Foundation
import Gateway
import Logging

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Send one command and print the answer: the status line, then the JSON body.",
        discussion: """
            Exits 0 on a 2xx answer, 1 on an error answer, 2 when the broker cannot be reached, 3 when no
            answer came in time.
            --param values are always strings; use --json for numbers, booleans or objects.
            Examples:
              walink call worker.ping
              walink call session.pairing-code --session sess_01 --param phone=628123456789 --token "$TOKEN"
            """
    )

    @Argument(help: "The command, e.g. worker.ping or session.qr.")
    var command: String

    @Option(help: "The session id (sets the \"session\" parameter).")
    var session: String?

    @Option(name: .customLong("param"), help: "A string parameter as key=value (repeatable).")
    var parameters: [String] = []

    @Option(help: "The whole body as JSON (merged with --session and --param; sent as-is when alone).")
    var json: String?

    @Option(help: "Bearer token: a login JWT or an API key (WALINK_TOKEN).")
    var token: String?

    @Option(help: "Seconds to wait for the answer (also sent as the message expiration).")
    var timeout: Double = 30

    @Option(help: "Idempotency key (message_id); default a new random id.")
    var messageID: String?

    @Option(help: "Broker URL (WALINK_AMQP_URL; default amqp://guest:guest@127.0.0.1:5672/).")
    var amqpURL: String?

    @Option(help: "Prefix of the broker object names, as the workers use it (WALINK_TOPOLOGY_PREFIX).")
    var topologyPrefix: String?

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
        for parameter in parameters where !parameter.contains("=") {
            throw ValidationError("--param needs key=value, got \"\(parameter)\"")
        }
    }

    func run() async throws {
        Settings.startLogging(level: .error)
        let body = try makeBody()
        var configuration = try AMQPConfiguration(
            url: Settings.string(amqpURL, "WALINK_AMQP_URL", default: "amqp://guest:guest@127.0.0.1:5672/"), environment: Settings.environment)
        configuration.connectionName = "walink call"
        configuration.reconnectInitialDelay = 0.2
        let client = CommandClient(
            amqp: configuration,
            names: WalinkNames(prefix: Settings.string(topologyPrefix, "WALINK_TOPOLOGY_PREFIX", default: "")),
            token: Settings.optionalString(token, "WALINK_TOKEN"),
            maxConnectAttempts: 3,
            logger: Logger(label: "walink.call")
        )
        let limit = Duration.milliseconds(Int64(timeout * 1000))
        let answer: CommandClient.Answer?
        do {
            answer = try await call(client: client, body: body, limit: limit)
        } catch let error as AMQPError {
            FileHandle.standardError.write(Data("cannot reach the broker at \(configuration.redactedURL): \(error)\n".utf8))
            throw ExitCode(2)
        }
        guard let answer else {
            FileHandle.standardError.write(Data("no answer within \(timeout) s (is a worker running on this broker?)\n".utf8))
            throw ExitCode(3)
        }
        print("status: \(answer.status)")
        print(answer.body == .null ? String(decoding: answer.rawBody, as: UTF8.self) : answer.body.prettyText)
        if !(200..<300).contains(answer.status) { throw ExitCode(1) }
    }

    /// The answer, or nil after `limit`; a broker that cannot be reached throws.
    func call(client: CommandClient, body: [UInt8], limit: Duration) async throws -> CommandClient.Answer? {
        try await withThrowingTaskGroup(of: CommandClient.Answer?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            group.addTask {
                // Bounded as a whole: a broker that is down counts against the same timeout.
                try await withThrowingTaskGroup(of: CommandClient.Answer?.self) { attempt in
                    attempt.addTask {
                        try await client.amqp.waitUntilConnected()
                        return try await client.call(command, rawBody: body, messageID: messageID, timeout: limit)
                    }
                    attempt.addTask {
                        try await Task.sleep(for: limit)
                        return nil
                    }
                    let first = try await attempt.next() ?? nil
                    attempt.cancelAll()
                    return first
                }
            }
            defer { group.cancelAll() }
            let answer = try await group.next() ?? nil
            await client.shutdown()
            return answer
        }
    }

    func makeBody() throws -> [UInt8] {
        if let json, session == nil, parameters.isEmpty { return Array(json.utf8) }
        var object = JSONObject()
        if let json {
            guard case .object(let parsed)? = try? JSONParser.parse(Array(json.utf8)) else {
                throw ValidationError("--json must be a JSON object when combined with --session or --param")
            }
            object = parsed
        }
        if let session { object["session"] = .string(session) }
        for parameter in parameters {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            object[String(parts[0])] = .string(parts.count > 1 ? String(parts[1]) : "")
        }
        return JSONValue.object(object).serialized
    }
}
