/// Joins AMQP method, header and body frames into whole messages. I/O-free: the connection driver
/// feeds it decoded frames and acts on what it returns.
///
/// A content-bearing method (`basic.deliver`, `basic.return`) is followed by one header frame and
/// then body frames until `bodySize` bytes have arrived. Bodies above `maxRetainedBodySize` are
/// counted but not kept, so a huge message cannot exhaust memory and still gets an answer.
struct ContentAssembler {
    enum Start: Equatable {
        case deliver(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case `return`(replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
    }

    struct Message: Equatable {
        var start: Start
        var properties: AMQPProperties
        var body: [UInt8]
        var bodySize: UInt64
    }

    enum Failure: Error, Equatable {
        case headerWithoutMethod
        case bodyWithoutHeader
        case bodyTooLong
        case methodDuringContent
    }

    private struct Pending {
        var start: Start
        var properties: AMQPProperties?
        var bodySize: UInt64 = 0
        var received: UInt64 = 0
        var body: [UInt8] = []
        var keepsBody = true
    }

    private var pending: [UInt16: Pending] = [:]
    let maxRetainedBodySize: Int

    init(maxRetainedBodySize: Int) {
        self.maxRetainedBodySize = maxRetainedBodySize
    }

    /// Whether a message is half-assembled on any channel.
    var isAssembling: Bool { !pending.isEmpty }

    mutating func begin(channel: UInt16, _ start: Start) throws(Failure) {
        guard pending[channel] == nil else { throw .methodDuringContent }
        pending[channel] = Pending(start: start)
    }

    /// A header frame. Returns the finished message when the body is empty.
    mutating func header(channel: UInt16, bodySize: UInt64, properties: AMQPProperties) throws(Failure) -> Message? {
        // Taken out of the dictionary while it changes, so its body buffer is never shared (copied).
        guard var current = pending.removeValue(forKey: channel) else { throw .headerWithoutMethod }
        guard current.properties == nil else {
            pending[channel] = current
            throw .headerWithoutMethod
        }
        current.properties = properties
        current.bodySize = bodySize
        current.keepsBody = bodySize <= UInt64(maxRetainedBodySize)
        if current.keepsBody { current.body.reserveCapacity(Int(bodySize)) }
        if bodySize == 0 {
            return Message(start: current.start, properties: properties, body: [], bodySize: 0)
        }
        pending[channel] = current
        return nil
    }

    /// A body frame. Returns the finished message once all announced bytes have arrived.
    mutating func body(channel: UInt16, _ fragment: UnsafeRawBufferPointer) throws(Failure) -> Message? {
        guard var current = pending.removeValue(forKey: channel) else { throw .bodyWithoutHeader }
        guard let properties = current.properties else {
            pending[channel] = current
            throw .bodyWithoutHeader
        }
        current.received += UInt64(fragment.count)
        guard current.received <= current.bodySize else { throw .bodyTooLong }
        if current.keepsBody { current.body.append(contentsOf: fragment) }
        if current.received == current.bodySize {
            return Message(start: current.start, properties: properties, body: current.body, bodySize: current.bodySize)
        }
        pending[channel] = current
        return nil
    }

    mutating func reset() { pending.removeAll() }
}
