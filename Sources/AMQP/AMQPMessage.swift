/// The basic properties of a message. Only non-nil fields are sent.
public struct AMQPProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable?
    /// 1 = transient, 2 = persistent.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string.
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: AMQPTable? = nil,
        deliveryMode: UInt8? = nil,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }

    public static let persistentDeliveryMode: UInt8 = 2
    public static let transientDeliveryMode: UInt8 = 1
}

/// A message to publish.
public struct AMQPMessage: Sendable {
    public var body: [UInt8]
    public var properties: AMQPProperties

    public init(body: [UInt8], properties: AMQPProperties = AMQPProperties()) {
        self.body = body
        self.properties = properties
    }
}

/// A message the broker delivered to one of our consumers.
///
/// Its fields live in one immutable box, so the copies a delivery goes through (from the connection
/// thread to the reader, into the command's task) cost one reference count each rather than one
/// per string (a delivery has about a dozen).
public struct AMQPDelivery: Sendable {
    @usableFromInline
    final class Storage: Sendable {
        @usableFromInline let queue: String
        @usableFromInline let deliveryTag: UInt64
        @usableFromInline let connectionGeneration: UInt64
        @usableFromInline let redelivered: Bool
        @usableFromInline let exchange: String
        @usableFromInline let routingKey: String
        @usableFromInline let properties: AMQPProperties
        @usableFromInline let body: [UInt8]
        @usableFromInline let bodySize: UInt64
        @usableFromInline let noAck: Bool

        init(
            queue: String, deliveryTag: UInt64, connectionGeneration: UInt64, redelivered: Bool, exchange: String, routingKey: String,
            properties: AMQPProperties, body: [UInt8], bodySize: UInt64, noAck: Bool
        ) {
            self.queue = queue
            self.deliveryTag = deliveryTag
            self.connectionGeneration = connectionGeneration
            self.redelivered = redelivered
            self.exchange = exchange
            self.routingKey = routingKey
            self.properties = properties
            self.body = body
            self.bodySize = bodySize
            self.noAck = noAck
        }
    }

    @usableFromInline let storage: Storage

    // Inlinable so that reading one field (`delivery.properties.replyTo`) in another module reads
    // that field, not a copy of the whole properties struct.

    /// The queue of the consumer that received it.
    @inlinable public var queue: String { storage.queue }
    @inlinable public var deliveryTag: UInt64 { storage.deliveryTag }
    /// Which connection the delivery came over; acks for an older connection are ignored, since the
    /// broker has requeued those deliveries already.
    @inlinable public var connectionGeneration: UInt64 { storage.connectionGeneration }
    @inlinable public var redelivered: Bool { storage.redelivered }
    @inlinable public var exchange: String { storage.exchange }
    @inlinable public var routingKey: String { storage.routingKey }
    @inlinable public var properties: AMQPProperties { storage.properties }
    /// The body, or empty when it was larger than the client's retained-body limit (see ``bodySize``).
    @inlinable public var body: [UInt8] { storage.body }
    /// The size the broker announced for the body.
    @inlinable public var bodySize: UInt64 { storage.bodySize }
    /// Whether the consumer was in no-ack mode (no ack needed or allowed).
    @inlinable public var noAck: Bool { storage.noAck }

    /// True when the body was larger than the limit and was not kept.
    @inlinable public var isBodyDiscarded: Bool { UInt64(storage.body.count) != storage.bodySize }

    public init(
        queue: String,
        deliveryTag: UInt64,
        connectionGeneration: UInt64,
        redelivered: Bool,
        exchange: String,
        routingKey: String,
        properties: AMQPProperties,
        body: [UInt8],
        bodySize: UInt64,
        noAck: Bool
    ) {
        storage = Storage(
            queue: queue, deliveryTag: deliveryTag, connectionGeneration: connectionGeneration, redelivered: redelivered, exchange: exchange,
            routingKey: routingKey, properties: properties, body: body, bodySize: bodySize, noAck: noAck
        )
    }
}

/// What the broker said about a confirmed publish.
public enum AMQPPublishOutcome: Sendable, Equatable {
    /// Stored or routed (or, without `mandatory`, possibly dropped as unroutable).
    case acked
    /// Published with `mandatory` and no queue took it: the broker returned it, then acked.
    case returned(replyCode: UInt16, replyText: String)
}
