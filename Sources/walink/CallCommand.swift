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
            Exits 0 on a 2xx answer, 1 on an error answer, 3 when no answer came in time.
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
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let body = try makeBody()
        var configuration = try AMQPConfiguration(url: Settings.string(amqpURL, "WALINK_AMQP_URL", default: "amqp://guest:guest@127.0.0.1:5672/"))
        configuration.connectionName = "walink call"
        configuration.reconnectInitialDelay = 0.2
        let client = AMQPClient(
            configuration: configuration,
            consumers: [AMQPConsumerSpec(queue: "amq.rabbitmq.reply-to", noAck: true)],
            maxConnectAttempts: 3,
            logger: Logger(label: "walink.call")
        )
        let correlationID = UUID().uuidString.lowercased()
        var headers = AMQPTable()
        if let token = Settings.optionalString(token, "WALINK_TOKEN") { headers["authorization"] = .string("Bearer \(token)") }
        let message = AMQPMessage(body: body, properties: AMQPProperties(
            contentType: "application/json", headers: headers, correlationID: correlationID,
            replyTo: "amq.rabbitmq.reply-to", expiration: String(Int(timeout * 1000)),
            messageID: messageID ?? UUID().uuidString.lowercased(), timestamp: UInt64(Date().timeIntervalSince1970), type: command
        ))
        let names = WalinkNames(prefix: Settings.string(topologyPrefix, "WALINK_TOPOLOGY_PREFIX", default: ""))
        let outcome = try await Self.call(
            client: client, message: message, exchange: names.commandsExchange, command: command, correlationID: correlationID, timeout: timeout
        )
        switch outcome {
        case .reply(let reply):
            let status = reply.properties.headers?["status"]?.intValue ?? 0
            print("status: \(status)")
            if let value = try? JSONParser.parse(reply.body) {
                print(value.prettyText)
            } else {
                print(String(decoding: reply.body, as: UTF8.self))
            }
            if !(200..<300).contains(status) { throw ExitCode(1) }
        case .timedOut:
            FileHandle.standardError.write(Data("no answer within \(timeout) s (is a worker running on this broker?)\n".utf8))
            throw ExitCode(3)
        }
    }

    enum Outcome: Sendable {
        case reply(AMQPDelivery)
        case timedOut
    }

    /// Publishes the command and waits for the reply that carries our correlation id.
    static func call(
        client: AMQPClient, message: AMQPMessage, exchange: String, command: String, correlationID: String, timeout: Double
    ) async throws -> Outcome {
        try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            group.addTask {
                try await client.waitUntilConnected()
                _ = try await client.publish(message, exchange: exchange, routingKey: command, timeout: .seconds(timeout))
                for await delivery in client.deliveries where delivery.properties.correlationID == correlationID {
                    return .reply(delivery)
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(timeout))
                return .timedOut
            }
            var result: Outcome = .timedOut
            while let next = try await group.next() {
                if let next {
                    result = next
                    break
                }
            }
            await client.shutdown()
            group.cancelAll()
            return result
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
