import AMQP
import Foundation
import Logging

/// Publishes events to `walink.events`: routing key `<org>.<session>.<event>`, body
/// `{"type","org","session","time","data"}`.
///
/// Events carry QR strings and pairing codes for the caller's systems; they are never logged.
/// Publishes are confirmed by the broker and survive reconnects (the AMQP client sends them again);
/// one that cannot be confirmed in time is logged (type only) and dropped, since the session's state
/// in the store stays authoritative.
public struct EventPublisher: Sendable {
    let amqp: AMQPClient
    let names: WalinkNames
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(amqp: AMQPClient, names: WalinkNames, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.amqp = amqp
        self.names = names
        self.logger = logger
        self.clock = clock
    }

    /// - Parameter expiresAt: for short-lived events (a QR code): the broker drops the event once it
    ///   is stale rather than deliver a dead code to a slow consumer.
    public func publish(_ type: String, organization: String, session: String, data: JSONValue, expiresAt: Date? = nil) async {
        let now = clock()
        let body: JSONValue = [
            "type": .string(type), "org": .string(organization), "session": .string(session),
            "time": .string(now.walinkTimestamp), "data": data,
        ]
        var properties = AMQPProperties(
            contentType: "application/json",
            deliveryMode: expiresAt == nil ? AMQPProperties.persistentDeliveryMode : AMQPProperties.transientDeliveryMode,
            messageID: UUID().uuidString.lowercased(),
            timestamp: UInt64(now.timeIntervalSince1970),
            type: type
        )
        if let expiresAt {
            properties.expiration = String(max(1, Int((expiresAt.timeIntervalSince(now) * 1000).rounded(.up))))
        }
        do {
            _ = try await amqp.publish(
                AMQPMessage(body: body.serialized, properties: properties),
                exchange: names.eventsExchange,
                routingKey: "\(organization).\(session).\(type)"
            )
        } catch {
            logger.warning("Event not confirmed by the broker", metadata: ["walink.event": "\(type)", "amqp.error": "\(error)"])
        }
    }
}
