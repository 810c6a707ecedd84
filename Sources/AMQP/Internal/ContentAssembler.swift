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

    /// Messages being assembled, by channel: a short list (content arrives on one or two
    /// channels), searched and changed in place, so a frame costs no hashing and no copy of the
    /// message so far.
    private var pending: [(channel: UInt16, message: Pending)] = []
    let maxRetainedBodySize: Int

    init(maxRetainedBodySize: Int) {
        self.maxRetainedBodySize = maxRetainedBodySize
    }

    /// Whether a message is half-assembled on any channel.
    var isAssembling: Bool { !pending.isEmpty }

    private func index(of channel: UInt16) -> Int? {
        pending.firstIndex { $0.channel == channel }
    }

    mutating func begin(channel: UInt16, _ start: Start) throws(Failure) {
        guard index(of: channel) == nil else { throw .methodDuringContent }
        pending.append((channel, Pending(start: start)))
    }

    /// A header frame. Returns the finished message when the body is empty.
    mutating func header(channel: UInt16, bodySize: UInt64, properties: AMQPProperties) throws(Failure) -> Message? {
        guard let index = index(of: channel), pending[index].message.properties == nil else { throw .headerWithoutMethod }
        if bodySize == 0 {
            let start = pending.remove(at: index).message.start
            return Message(start: start, properties: properties, body: [], bodySize: 0)
        }
        let keepsBody = bodySize <= UInt64(maxRetainedBodySize)
        pending[index].message.properties = properties
        pending[index].message.bodySize = bodySize
        pending[index].message.keepsBody = keepsBody
        if keepsBody { pending[index].message.body.reserveCapacity(Int(bodySize)) }
        return nil
    }

    /// A body frame. Returns the finished message once all announced bytes have arrived.
    mutating func body(channel: UInt16, _ fragment: UnsafeRawBufferPointer) throws(Failure) -> Message? {
        guard let index = index(of: channel), pending[index].message.properties != nil else { throw .bodyWithoutHeader }
        let received = pending[index].message.received + UInt64(fragment.count)
        guard received <= pending[index].message.bodySize else {
            pending.remove(at: index)
            throw .bodyTooLong
        }
        pending[index].message.received = received
        if pending[index].message.keepsBody { pending[index].message.body.append(contentsOf: fragment) }
        guard received == pending[index].message.bodySize else { return nil }
        let done = pending.remove(at: index).message
        return Message(start: done.start, properties: done.properties!, body: done.body, bodySize: done.bodySize)
    }

    mutating func reset() { pending.removeAll() }
}
