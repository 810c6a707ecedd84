import AMQP
import Foundation
import Logging

/// Publishes events to `walink.events`: routing key `<org>.<session>.<event>`, body
/// `{"type","org","session","time","data"}`.
///
/// Events carry QR strings and pairing codes for the caller's systems; they are never logged.
/// Publishes are confirmed by the broker and survive reconnects (the AMQP client sends them again).
/// An event with an expiry (``WalinkEvent/expiresAt``) gets an AMQP `expiration` computed when it is
/// actually sent, and is dropped if it went stale while it waited (a blocked broker), so a
/// consumer never gets a dead code.
public struct EventPublisher: Sendable {
    /// What became of one event.
    public enum Outcome: Sendable, Equatable {
        case published
        /// Its code expired before it could be sent: dropped on purpose.
        case expired
        /// Not confirmed by the broker in time, or the client stopped: lost (the store stays
        /// authoritative for the session's state).
        case failed
    }

    let amqp: AMQPClient
    let names: WalinkNames
    let timeout: Duration
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(
        amqp: AMQPClient, names: WalinkNames, timeout: Duration = .seconds(30), logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.amqp = amqp
        self.names = names
        self.timeout = timeout
        self.logger = logger
        self.clock = clock
    }

    @discardableResult
    public func publish(_ event: WalinkEvent, organization: String, session: String) async -> Outcome {
        let now = clock()
        let type = event.type
        let body: JSONValue = [
            "type": .string(type), "org": .string(organization), "session": .string(session),
            "time": .string(now.walinkTimestamp), "data": event.data,
        ]
        let expiresAt = event.expiresAt
        let properties = AMQPProperties(
            contentType: "application/json",
            deliveryMode: expiresAt == nil ? AMQPProperties.persistentDeliveryMode : AMQPProperties.transientDeliveryMode,
            messageID: UUID().uuidString.lowercased(),
            timestamp: UInt64(now.timeIntervalSince1970),
            type: type
        )
        do {
            _ = try await amqp.publish(
                AMQPMessage(body: body.serialized, properties: properties),
                exchange: names.eventsExchange,
                routingKey: "\(organization).\(session).\(type)",
                timeout: timeout,
                // The wall-clock expiry as a monotonic instant, so the AMQP layer can compute the TTL
                // at the moment it sends.
                expiresAt: expiresAt.map { ContinuousClock.now.advanced(by: .seconds($0.timeIntervalSince(now))) }
            )
            return .published
        } catch  where error.code == .messageExpired {
            logger.debug("Event dropped: its code expired before it could be sent", metadata: ["walink.event": "\(event)"])
            return .expired
        } catch {
            logger.warning("Event not confirmed by the broker", metadata: ["walink.event": "\(event)", "amqp.error": "\(error)"])
            return .failed
        }
    }
}
