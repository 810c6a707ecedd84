import AMQP
import Foundation
import Logging
import Synchronization

/// A caller of the command API over one broker connection (Direct Reply-to): publishes commands
/// and matches the answers by correlation id. For `walink demo`, benchmarks and scripts written in
/// Swift; run ``run()`` alongside.
public final class CommandClient: Sendable {
    private enum Slot {
        case waiting(CheckedContinuation<AMQPDelivery?, Never>?)
        case delivered(AMQPDelivery)
    }

    /// An answer: the `status` header and the body (parsed, and as sent).
    public struct Answer: Sendable {
        public let status: Int
        public let body: JSONValue
        public let rawBody: [UInt8]
    }

    public let amqp: AMQPClient
    let names: WalinkNames
    let token: String?
    private let slots = Mutex<[String: Slot]>([:])

    /// - Parameter maxConnectAttempts: give up (``run()`` throws) after this many rounds over the
    ///   URL's nodes in which every connect failed.
    public init(
        amqp configuration: AMQPConfiguration,
        names: WalinkNames = .standard,
        token: String? = nil,
        maxConnectAttempts: Int? = nil,
        logger: Logger
    ) {
        self.names = names
        self.token = token
        amqp = AMQPClient(
            configuration: configuration, consumers: [AMQPConsumerSpec(queue: "amq.rabbitmq.reply-to", noAck: true)],
            maxConnectAttempts: maxConnectAttempts, logger: logger
        )
    }

    /// Runs the connection and hands answers to their callers, until ``shutdown()``.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.amqp.run() }
            for await delivery in amqp.deliveries {
                guard let id = delivery.properties.correlationID else { continue }
                resolve(id, with: delivery)
            }
            try await group.waitForAll()
        }
    }

    public func shutdown() async {
        await amqp.shutdown()
    }

    /// Sends `command` with `body` and waits for its answer; nil when none came within `timeout`.
    public func call(_ command: String, _ body: JSONValue = [:], timeout: Duration = .seconds(60)) async throws -> Answer? {
        try await call(command, rawBody: body.serialized, timeout: timeout)
    }

    /// Sends `command` with a body as given (which need not be valid JSON) and waits for its answer;
    /// nil when none came within `timeout`. `messageID` defaults to a new random id.
    public func call(_ command: String, rawBody: [UInt8], messageID: String? = nil, timeout: Duration = .seconds(60)) async throws -> Answer? {
        let id = UUID().uuidString.lowercased()
        // Registered before publishing: the answer may come back before the caller starts waiting.
        slots.withLock { $0[id] = .waiting(nil) }
        var headers = AMQPTable()
        if let token { headers["authorization"] = .string("Bearer \(token)") }
        let message = AMQPMessage(
            body: rawBody,
            properties: AMQPProperties(
                contentType: "application/json", headers: headers, correlationID: id, replyTo: "amq.rabbitmq.reply-to",
                expiration: String(max(1, timeout.wholeMilliseconds)), messageID: messageID ?? id,
                timestamp: UInt64(Date().timeIntervalSince1970), type: command
            ))
        do {
            _ = try await amqp.publish(message, exchange: names.commandsExchange, routingKey: command, timeout: timeout)
        } catch {
            slots.withLock { _ = $0.removeValue(forKey: id) }
            throw error
        }
        let delivery = await withTaskGroup(of: AMQPDelivery?.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<AMQPDelivery?, Never>) in
                    let ready = self.slots.withLock { slots -> AMQPDelivery?? in
                        switch slots[id] {
                        case .delivered(let delivery)?:
                            slots[id] = nil
                            return .some(delivery)
                        case .waiting?:
                            slots[id] = .waiting(continuation)
                            return .none
                        case nil:
                            return .some(nil)  // timed out already
                        }
                    }
                    if let ready { continuation.resume(returning: ready) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.resolve(id, with: nil)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let delivery else { return nil }
        return Answer(
            status: delivery.properties.headers?["status"]?.intValue ?? 0, body: (try? JSONParser.parse(delivery.body)) ?? .null,
            rawBody: delivery.body
        )
    }

    private func resolve(_ id: String, with delivery: AMQPDelivery?) {
        let waiter = slots.withLock { slots -> CheckedContinuation<AMQPDelivery?, Never>? in
            guard case .waiting(let continuation)? = slots[id] else { return nil }
            if let continuation {
                slots[id] = nil
                return continuation
            }
            if let delivery { slots[id] = .delivered(delivery) } else { slots[id] = nil }
            return nil
        }
        waiter?.resume(returning: delivery)
    }
}
