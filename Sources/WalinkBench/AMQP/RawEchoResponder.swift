import AMQP
import CRabbitMQ
import Foundation
import Synchronization

/// The baseline: the least a responder on rabbitmq-c can do. One plain thread calls the C library
/// directly: consume with manual acks and a prefetch, publish the request's body back to its
/// `reply_to` with the same `correlation_id` (and a `status` header, as the worker sends), ack.
/// No Swift concurrency, no outbox, no copies.
///
/// Without `confirmed` it acks right after publishing (no publisher confirms): the figure the
/// worker is measured against. With `confirmed` it gives the worker's guarantee — the channel is in
/// confirm mode and each request is acked only once the broker confirmed its reply — to show what
/// that guarantee costs by itself.
final class RawEchoResponder: Sendable {
    let queue: String
    let confirmed: Bool
    private let stopRequested = Atomic<Bool>(false)
    private let finished: Mutex<(done: Bool, error: BenchmarkError?, waiter: CheckedContinuation<BenchmarkError?, Never>?)> =
        Mutex((false, nil, nil))

    private init(queue: String, confirmed: Bool) {
        self.queue = queue
        self.confirmed = confirmed
    }

    /// Declares `queue` (a quorum queue with `arguments`), starts consuming it and returns once the
    /// consumer is in place.
    static func start(
        configuration: AMQPConfiguration,
        queue: String,
        arguments: [(String, AMQPFieldValue)],
        prefetch: UInt16,
        confirmed: Bool = false
    ) async throws -> RawEchoResponder {
        let responder = RawEchoResponder(queue: queue, confirmed: confirmed)
        let arguments = arguments.map { ArgumentBox(key: $0.0, value: $0.1) }
        try await withCheckedThrowingContinuation { (ready: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                let connection: RawConnection
                do {
                    connection = try RawConnection(configuration: configuration, name: "walink-bench raw echo")
                    try connection.declareQuorumQueue(queue, arguments: arguments.map { ($0.key, $0.value) })
                    if confirmed { try connection.confirmSelect() }
                    try connection.qos(prefetch: prefetch)
                    try connection.consume(queue: queue, noAck: false)
                } catch {
                    responder.finish(error)
                    ready.resume(throwing: error)
                    return
                }
                ready.resume()
                do {
                    try responder.serve(connection)
                    connection.close()
                    responder.finish(nil)
                } catch {
                    responder.finish(error)
                }
            }
            thread.name = "walink-bench-raw-echo"
            thread.start()
        }
        return responder
    }

    /// Stops the thread and closes its connection; returns the error that ended it early, if any.
    @discardableResult
    func stop() async -> BenchmarkError? {
        stopRequested.store(true, ordering: .relaxed)
        return await withCheckedContinuation { (continuation: CheckedContinuation<BenchmarkError?, Never>) in
            let outcome = finished.withLock { state -> BenchmarkError?? in
                if state.done { return .some(state.error) }
                state.waiter = continuation
                return .none
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
    }

    private func finish(_ error: (any Error)?) {
        let benchmarkError = error.map { ($0 as? BenchmarkError) ?? BenchmarkError("\($0)") }
        let waiter = finished.withLock { state in
            state.done = true
            state.error = benchmarkError
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: benchmarkError)
    }

    private func serve(_ connection: RawConnection) throws(BenchmarkError) {
        let contentType = strdup("application/json")!
        let statusKey = strdup("status")!
        defer {
            free(contentType)
            free(statusKey)
        }
        var statusHeader = amqp_table_entry_t()
        statusHeader.key = amqp_cstring_bytes(statusKey)
        statusHeader.value.kind = UInt8(AMQP_FIELD_KIND_I32.rawValue)
        statusHeader.value.value.i32 = 200
        let correlationFlags = UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
        let replyToFlag = UInt32(AMQP_BASIC_REPLY_TO_FLAG)

        // Confirm mode: requests whose replies await the broker's confirm, by publish number.
        var awaitingConfirm: [(sequence: UInt64, deliveryTag: UInt64)] = []
        var awaitingHead = 0
        var nextSequence: UInt64 = 1
        let onConfirm = { (confirmedTag: UInt64, multiple: Bool) throws(BenchmarkError) in
            // Confirms come in order on one channel; `multiple` covers every number up to the tag.
            while awaitingHead < awaitingConfirm.count, awaitingConfirm[awaitingHead].sequence <= confirmedTag {
                let entry = awaitingConfirm[awaitingHead]
                guard multiple || entry.sequence == confirmedTag else { break }
                try connection.ack(entry.deliveryTag)
                awaitingHead += 1
            }
            if awaitingHead > 1024, awaitingHead * 2 > awaitingConfirm.count {
                awaitingConfirm.removeSubrange(..<awaitingHead)
                awaitingHead = 0
            }
        }

        try withUnsafeMutablePointer(to: &statusHeader) { (header) throws(BenchmarkError) in
            // Wake up every 100 ms to notice stop().
            while !stopRequested.load(ordering: .relaxed) {
                guard
                    let delivery = try connection.nextDelivery(
                        timeout: timeval(tv_sec: 0, tv_usec: 100_000), onConfirm: confirmed ? onConfirm : nil
                    )
                else {
                    connection.releaseBuffers()
                    continue
                }
                let request = delivery.properties
                if request._flags & replyToFlag != 0 {
                    var reply = amqp_basic_properties_t()
                    reply._flags = UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG) | UInt32(AMQP_BASIC_HEADERS_FLAG) | UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
                    reply.content_type = amqp_cstring_bytes(contentType)
                    reply.headers = amqp_table_t(num_entries: 1, entries: header)
                    reply.delivery_mode = 1
                    if request._flags & correlationFlags != 0 {
                        reply._flags |= correlationFlags
                        reply.correlation_id = request.correlation_id
                    }
                    try connection.publish(
                        exchange: amqp_bytes_t(len: 0, bytes: nil), routingKey: request.reply_to, properties: &reply, body: delivery.body)
                    if confirmed {
                        awaitingConfirm.append((nextSequence, delivery.deliveryTag))
                        nextSequence += 1
                        connection.releaseBuffers()
                        continue
                    }
                }
                try connection.ack(delivery.deliveryTag)
                connection.releaseBuffers()
            }
        }
    }
}

/// A queue argument, carried into the responder's thread.
private struct ArgumentBox: Sendable {
    var key: String
    var value: AMQPFieldValue
}
