import AMQP
import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a benchmark could not run.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A bare rabbitmq-c connection for the benchmark's requester and its raw echo responder: one
/// channel, no reconnects, no outbox, no Swift values on the hot path. Used by one thread only.
///
/// Incoming messages are handed out with pointers into rabbitmq-c's frame pool, valid until
/// ``releaseBuffers()``; nothing is copied unless a body spans several frames.
final class RawConnection {
    static let channel: amqp_channel_t = 1

    /// One delivered message. Its pointers are valid until ``RawConnection/releaseBuffers()``.
    struct Delivery {
        var deliveryTag: UInt64
        var properties: amqp_basic_properties_t
        var body: amqp_bytes_t
    }

    let state: amqp_connection_state_t
    private var closed = false
    /// Holds a body that arrived in more than one frame.
    private var scratch: [UInt8] = []

    /// Connects to the first node of the URL that answers, in the URL's order (all of a run's raw
    /// connections then share one node), over TLS for `amqps://` as the worker does.
    init(configuration: AMQPConfiguration, name: String) throws(BenchmarkError) {
        var opened: amqp_connection_state_t?
        var failures: [String] = []
        for node in configuration.nodes where opened == nil {
            guard let candidate = amqp_new_connection() else { throw BenchmarkError("amqp_new_connection failed") }
            do {
                try AMQPTransport.open(candidate, to: node, configuration: configuration)
                opened = candidate
            } catch {
                amqp_destroy_connection(candidate)
                failures.append("\(error)")
            }
        }
        guard let state = opened else {
            throw BenchmarkError("cannot connect to \(configuration.redactedURL): \(failures.joined(separator: "; "))")
        }
        self.state = state
        let login = name.withCString { namePointer in
            let key = "connection_name"
            return key.withCString { keyPointer in
                var entry = amqp_table_entry_t()
                entry.key = amqp_cstring_bytes(keyPointer)
                entry.value.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                entry.value.value.bytes = amqp_cstring_bytes(namePointer)
                return withUnsafeMutablePointer(to: &entry) { entryPointer in
                    var properties = amqp_table_t(num_entries: 1, entries: entryPointer)
                    return CRabbitMQ_login_plain(
                        state, configuration.virtualHost, 0, 131_072, Int32(configuration.heartbeatSeconds),
                        &properties, configuration.user, configuration.password
                    )
                }
            }
        }
        do {
            try check(login, "login")
            amqp_channel_open(state, Self.channel)
            try check(amqp_get_rpc_reply(state), "channel.open")
        } catch {
            amqp_destroy_connection(state)
            throw error
        }
    }

    deinit {
        if !closed { _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS) }
        amqp_destroy_connection(state)
    }

    /// Closes the connection politely (the broker then drops its consumers at once).
    func close() {
        guard !closed else { return }
        closed = true
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    // MARK: - Declarations

    /// Declares a durable quorum queue with the given extra arguments (strings and integers).
    func declareQuorumQueue(_ name: String, arguments: [(String, AMQPFieldValue)]) throws(BenchmarkError) {
        // rabbitmq-c keeps the pointers it is given: copy every string into C memory for the call.
        var allocations: [UnsafeMutablePointer<CChar>] = []
        defer { for pointer in allocations { free(pointer) } }
        func cBytes(_ text: String) -> amqp_bytes_t {
            let pointer = strdup(text)!
            allocations.append(pointer)
            return amqp_bytes_t(len: strlen(pointer), bytes: UnsafeMutableRawPointer(pointer))
        }
        var entries: [amqp_table_entry_t] = []
        for (key, value) in [("x-queue-type", AMQPFieldValue.string("quorum"))] + arguments {
            var entry = amqp_table_entry_t()
            entry.key = cBytes(key)
            if let text = value.stringValue {
                entry.value.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                entry.value.value.bytes = cBytes(text)
            } else if let integer = value.intValue {
                entry.value.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                entry.value.value.i64 = Int64(integer)
            } else {
                continue
            }
            entries.append(entry)
        }
        let queue = cBytes(name)
        let reply = entries.withUnsafeMutableBufferPointer { buffer in
            let table = amqp_table_t(num_entries: Int32(buffer.count), entries: buffer.baseAddress)
            amqp_queue_declare(state, Self.channel, queue, 0, 1, 0, 0, table)
            return amqp_get_rpc_reply(state)
        }
        try check(reply, "queue.declare \(name)")
    }

    /// Deletes a queue (no error if it does not exist).
    func deleteQueue(_ name: String) throws(BenchmarkError) {
        let reply = name.withCString { queue in
            amqp_queue_delete(state, Self.channel, amqp_cstring_bytes(queue), 0, 0)
            return amqp_get_rpc_reply(state)
        }
        try check(reply, "queue.delete \(name)")
    }

    /// Deletes an exchange (no error if it does not exist).
    func deleteExchange(_ name: String) throws(BenchmarkError) {
        let reply = name.withCString { exchange in
            amqp_exchange_delete(state, Self.channel, amqp_cstring_bytes(exchange), 0)
            return amqp_get_rpc_reply(state)
        }
        try check(reply, "exchange.delete \(name)")
    }

    // MARK: - Consuming

    func qos(prefetch: UInt16) throws(BenchmarkError) {
        amqp_basic_qos(state, Self.channel, 0, prefetch, 0)
        try check(amqp_get_rpc_reply(state), "basic.qos")
    }

    /// Puts the channel in confirm mode: the broker acks every publish (numbered from 1).
    func confirmSelect() throws(BenchmarkError) {
        amqp_confirm_select(state, Self.channel)
        try check(amqp_get_rpc_reply(state), "confirm.select")
    }

    func consume(queue: String, noAck: Bool) throws(BenchmarkError) {
        let reply = queue.withCString { name in
            amqp_basic_consume(
                state, Self.channel, amqp_cstring_bytes(name), amqp_bytes_t(len: 0, bytes: nil), 0, noAck ? 1 : 0, 0,
                amqp_table_t(num_entries: 0, entries: nil)
            )
            return amqp_get_rpc_reply(state)
        }
        try check(reply, "basic.consume \(queue)")
    }

    /// The next delivery, or nil when no frame arrived within `timeout` (nil: wait forever) or a
    /// publisher confirm was just handed to `onConfirm`. Other frames (heartbeats) are skipped; a
    /// nack or a channel or connection close is an error.
    func nextDelivery(
        timeout: timeval?, onConfirm: ((_ deliveryTag: UInt64, _ multiple: Bool) throws(BenchmarkError) -> Void)? = nil
    ) throws(BenchmarkError) -> Delivery? {
        var current: Delivery? = nil
        var bodySize = 0
        var received = 0
        while true {
            var frame = amqp_frame_t()
            var status: Int32
            if var limit = timeout {
                status = amqp_simple_wait_frame_noblock(state, &frame, &limit)
            } else {
                status = amqp_simple_wait_frame(state, &frame)
            }
            if status == AMQP_STATUS_TIMEOUT.rawValue {
                if current == nil { return nil }
                continue  // in the middle of a message: its remaining frames are on their way
            }
            guard status == AMQP_STATUS_OK.rawValue else { throw BenchmarkError("reading a frame: \(Self.statusText(status))") }
            switch Int32(frame.frame_type) {
            case AMQP_FRAME_METHOD:
                switch frame.payload.method.id {
                case AMQP_BASIC_DELIVER_METHOD:
                    let deliver = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
                    current = Delivery(
                        deliveryTag: deliver.delivery_tag, properties: amqp_basic_properties_t(), body: amqp_bytes_t(len: 0, bytes: nil))
                case AMQP_BASIC_ACK_METHOD:
                    let ack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                    try onConfirm?(ack.delivery_tag, ack.multiple != 0)
                    if current == nil { return nil }  // let the caller act on the confirm now
                case AMQP_BASIC_NACK_METHOD:
                    throw BenchmarkError("the broker nacked a publish")
                case AMQP_CHANNEL_CLOSE_METHOD:
                    let close = frame.payload.method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                    throw BenchmarkError("channel closed by the broker: \(close.reply_code) \(Self.text(close.reply_text))")
                case AMQP_CONNECTION_CLOSE_METHOD:
                    let close = frame.payload.method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                    throw BenchmarkError("connection closed by the broker: \(close.reply_code) \(Self.text(close.reply_text))")
                default:
                    continue
                }
            case AMQP_FRAME_HEADER:
                guard current != nil, let decoded = frame.payload.properties.decoded else { continue }
                current!.properties = decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee
                bodySize = Int(frame.payload.properties.body_size)
                received = 0
                if bodySize == 0 { return current }
            case AMQP_FRAME_BODY:
                guard current != nil else { continue }
                let fragment = frame.payload.body_fragment
                if received == 0, fragment.len == bodySize {
                    current!.body = fragment
                    return current
                }
                if received == 0 { scratch.removeAll(keepingCapacity: true) }
                if let bytes = fragment.bytes {
                    scratch.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: fragment.len))
                }
                received += fragment.len
                if received >= bodySize {
                    current!.body = scratch.withUnsafeMutableBytes { amqp_bytes_t(len: $0.count, bytes: $0.baseAddress) }
                    return current
                }
            default:
                continue
            }
        }
    }

    /// Frees the frame memory of deliveries handed out so far.
    func releaseBuffers() {
        amqp_maybe_release_buffers(state)
    }

    // MARK: - Sending

    func publish(
        exchange: amqp_bytes_t, routingKey: amqp_bytes_t, properties: inout amqp_basic_properties_t, body: amqp_bytes_t
    ) throws(BenchmarkError) {
        let status = amqp_basic_publish(state, Self.channel, exchange, routingKey, 0, 0, &properties, body)
        guard status == AMQP_STATUS_OK.rawValue else { throw BenchmarkError("basic.publish: \(Self.statusText(status))") }
    }

    func ack(_ deliveryTag: UInt64) throws(BenchmarkError) {
        let status = amqp_basic_ack(state, Self.channel, deliveryTag, 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw BenchmarkError("basic.ack: \(Self.statusText(status))") }
    }

    // MARK: - Helpers

    private func check(_ reply: amqp_rpc_reply_t, _ what: String) throws(BenchmarkError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw BenchmarkError("\(what): \(Self.statusText(reply.library_error))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw BenchmarkError("\(what): \(close.reply_code) \(Self.text(close.reply_text))")
            }
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw BenchmarkError("\(what): \(close.reply_code) \(Self.text(close.reply_text))")
            }
            throw BenchmarkError("\(what): server exception")
        default:
            throw BenchmarkError("\(what): no reply")
        }
    }

    static func text(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: bytes.len), as: UTF8.self)
    }

    static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }
}
