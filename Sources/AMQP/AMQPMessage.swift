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
public struct AMQPDelivery: Sendable {
    /// The queue of the consumer that received it.
    public let queue: String
    public let deliveryTag: UInt64
    /// Which connection the delivery came over; acks for an older connection are ignored, since the
    /// broker has requeued those deliveries already.
    public let connectionGeneration: UInt64
    public let redelivered: Bool
    public let exchange: String
    public let routingKey: String
    public let properties: AMQPProperties
    /// The body, or empty when it was larger than the client's retained-body limit (see ``bodySize``).
    public let body: [UInt8]
    /// The size the broker announced for the body.
    public let bodySize: UInt64
    /// Whether the consumer was in no-ack mode (no ack needed or allowed).
    public let noAck: Bool

    /// True when the body was larger than the limit and was not kept.
    public var isBodyDiscarded: Bool { UInt64(body.count) != bodySize }

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

/// What the broker said about a confirmed publish.
public enum AMQPPublishOutcome: Sendable, Equatable {
    /// Stored or routed (or, without `mandatory`, possibly dropped as unroutable).
    case acked
    /// Published with `mandatory` and no queue took it: the broker returned it, then acked.
    case returned(replyCode: UInt16, replyText: String)
}
