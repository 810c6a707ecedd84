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

    /// A message being assembled: a class, so that each frame changes it where it is instead of
    /// copying it (with its dozen strings) out of the list and back.
    private final class Pending {
        let channel: UInt16
        var start: Start
        var properties: AMQPProperties?
        var bodySize: UInt64 = 0
        var received: UInt64 = 0
        var body: [UInt8] = []
        var keepsBody = true

        init(channel: UInt16, start: Start) {
            self.channel = channel
            self.start = start
        }
    }

    /// Messages being assembled, one per channel at most: a short list (content arrives on one or
    /// two channels), searched without hashing.
    private var pending: [Pending] = []
    let maxRetainedBodySize: Int

    init(maxRetainedBodySize: Int) {
        self.maxRetainedBodySize = maxRetainedBodySize
    }

    /// Whether a message is half-assembled on any channel.
    var isAssembling: Bool { !pending.isEmpty }

    private func index(of channel: UInt16) -> Int? {
        pending.firstIndex { $0.channel == channel }
    }

    mutating func begin(channel: UInt16, _ start: consuming Start) throws(Failure) {
        guard index(of: channel) == nil else { throw .methodDuringContent }
        pending.append(Pending(channel: channel, start: start))
    }

    /// A header frame. Returns the finished message when the body is empty.
    mutating func header(channel: UInt16, bodySize: UInt64, properties: consuming AMQPProperties) throws(Failure) -> Message? {
        guard let index = index(of: channel), pending[index].properties == nil else { throw .headerWithoutMethod }
        if bodySize == 0 {
            let message = pending.remove(at: index)
            return Message(start: message.start, properties: properties, body: [], bodySize: 0)
        }
        let message = pending[index]
        message.properties = properties
        message.bodySize = bodySize
        message.keepsBody = bodySize <= UInt64(maxRetainedBodySize)
        if message.keepsBody { message.body.reserveCapacity(Int(bodySize)) }
        return nil
    }

    /// A body frame. Returns the finished message once all announced bytes have arrived.
    mutating func body(channel: UInt16, _ fragment: UnsafeRawBufferPointer) throws(Failure) -> Message? {
        guard let index = index(of: channel), pending[index].properties != nil else { throw .bodyWithoutHeader }
        let message = pending[index]
        let received = message.received + UInt64(fragment.count)
        guard received <= message.bodySize else {
            pending.remove(at: index)
            throw .bodyTooLong
        }
        message.received = received
        if message.keepsBody { message.body.append(contentsOf: fragment) }
        guard received == message.bodySize else { return nil }
        pending.remove(at: index)
        // Moved out: the finished message is the only owner of its properties and body.
        return Message(start: message.start, properties: message.properties.take()!, body: message.body, bodySize: message.bodySize)
    }

    mutating func reset() { pending.removeAll() }
}
