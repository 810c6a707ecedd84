import AMQP
import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The caller side, the same for every responder: one rabbitmq-c connection used straight from its
/// own thread, consuming Direct Reply-to (no-ack), publishing requests to the default exchange with
/// the responder's queue as routing key. Written on the C library directly rather than on
/// ``AMQPClient`` so that the requester adds as little of its own time as possible (no task hops,
/// no wake-up pipe, no publisher confirms) to what is measured.
final class Requester {
    /// Where requests go: a queue on the default exchange, the command name in `type`, and what
    /// each request carries (an `authorization` header when given, and the body).
    struct Target: Sendable {
        var queue: String
        var command: String
        var authorization: String? = nil
        var body: [UInt8] = Array("{}".utf8)
    }

    private let connection: RawConnection
    private let replyTimeout = timeval(tv_sec: 15, tv_usec: 0)
    private var nextCallID: UInt64 = 0
    /// Names this requester's message ids, so they never repeat across runs.
    private let runID: UInt64

    init(configuration: AMQPConfiguration) throws(BenchmarkError) {
        connection = try RawConnection(configuration: configuration, name: "walink-bench requester")
        try connection.consume(queue: "amq.rabbitmq.reply-to", noAck: true)
        runID = UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF
    }

    func close() { connection.close() }

    /// Sequential calls, one in flight: the round-trip time of each, in seconds.
    func latencies(_ target: Target, calls: Int) throws(BenchmarkError) -> [Double] {
        var samples: [Double] = []
        samples.reserveCapacity(calls)
        for _ in 0..<calls { samples.append(try roundTrip(target)) }
        return samples
    }

    /// Sequential calls to several targets, interleaved call by call (A B C, B C A, C A B, ...) so
    /// that whatever else the machine does hits all alike: the round-trip times of each, in seconds.
    func interleavedLatencies(_ targets: [Target], callsEach: Int) throws(BenchmarkError) -> [[Double]] {
        var samples = [[Double]](repeating: [], count: targets.count)
        for index in samples.indices { samples[index].reserveCapacity(callsEach) }
        for call in 0..<callsEach {
            for offset in targets.indices {
                let target = (call + offset) % targets.count
                samples[target].append(try roundTrip(targets[target]))
            }
        }
        return samples
    }

    private func roundTrip(_ target: Target) throws(BenchmarkError) -> Double {
        let clock = ContinuousClock()
        let started = clock.now
        let id = try send(target)
        try awaitReply(id)
        let elapsed = started.duration(to: clock.now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Pipelined calls, `inFlight` at a time: completed calls per second.
    func throughput(_ target: Target, calls: Int, inFlight: Int) throws(BenchmarkError) -> Double {
        Double(calls) / (try pipelined(target, calls: calls, inFlight: inFlight).seconds)
    }

    /// What pipelined calls to one target achieved.
    struct Throughput: Sendable {
        /// Completed calls per second.
        var callsPerSecond: Double
        /// CPU time this process spent per call outside the requester's thread, in seconds: the
        /// in-process responder's cost (the broker's is not included).
        var responderCPUPerCall: Double
    }

    /// Pipelined calls to several targets in bursts taking turns (A B C, B C A, ...), so that
    /// machine noise hits all alike: the throughput of each over all its bursts.
    func interleavedThroughput(_ targets: [Target], callsEach: Int, bursts: Int, inFlight: Int) throws(BenchmarkError) -> [Throughput] {
        var seconds = [Double](repeating: 0, count: targets.count)
        var cpu = [Double](repeating: 0, count: targets.count)
        let perBurst = max(1, callsEach / bursts)
        for burst in 0..<bursts {
            for offset in targets.indices {
                let target = (burst + offset) % targets.count
                let result = try pipelined(targets[target], calls: perBurst, inFlight: inFlight)
                seconds[target] += result.seconds
                cpu[target] += result.responderCPU
            }
        }
        let calls = Double(perBurst * bursts)
        return targets.indices.map { Throughput(callsPerSecond: calls / seconds[$0], responderCPUPerCall: cpu[$0] / calls) }
    }

    /// Runs `calls` calls with `inFlight` outstanding: the seconds from the first publish to the
    /// last reply, and the CPU time the rest of this process used meanwhile.
    private func pipelined(_ target: Target, calls: Int, inFlight: Int) throws(BenchmarkError) -> (seconds: Double, responderCPU: Double) {
        let clock = ContinuousClock()
        let processCPU = Self.cpuTime(CLOCK_PROCESS_CPUTIME_ID)
        let threadCPU = Self.cpuTime(CLOCK_THREAD_CPUTIME_ID)
        let started = clock.now
        var sent = 0
        var received = 0
        while sent < min(inFlight, calls) {
            _ = try send(target)
            sent += 1
        }
        while received < calls {
            guard try connection.nextDelivery(timeout: replyTimeout) != nil else {
                throw BenchmarkError("no reply within \(replyTimeout.tv_sec) s (\(received) of \(calls) answered)")
            }
            connection.releaseBuffers()
            received += 1
            if sent < calls {
                _ = try send(target)
                sent += 1
            }
        }
        let elapsed = started.duration(to: clock.now)
        let others = (Self.cpuTime(CLOCK_PROCESS_CPUTIME_ID) - processCPU) - (Self.cpuTime(CLOCK_THREAD_CPUTIME_ID) - threadCPU)
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, max(0, others))
    }

    private static func cpuTime(_ clock: clockid_t) -> Double {
        var time = timespec()
        clock_gettime(clock, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    // MARK: - One call

    /// Publishes one request; returns its correlation id.
    private func send(_ target: Target) throws(BenchmarkError) -> UInt64 {
        nextCallID += 1
        let id = nextCallID
        // Short strings stay inline in Swift (no allocation); the C call copies them into its frame.
        var correlationID = String(id)
        var messageID = "bench-\(runID)-\(id)"
        var replyTo = "amq.rabbitmq.reply-to"
        var contentType = "application/json"
        var queue = target.queue
        var command = target.command
        var authorization = target.authorization ?? ""
        var authorizationKey = "authorization"
        var body = target.body
        var status: BenchmarkError? = nil
        correlationID.withUTF8 { correlation in
            messageID.withUTF8 { message in
                replyTo.withUTF8 { reply in
                    contentType.withUTF8 { content in
                        queue.withUTF8 { routingKey in
                            command.withUTF8 { type in
                                authorization.withUTF8 { credentials in
                                    authorizationKey.withUTF8 { key in
                                        body.withUnsafeMutableBytes { payload in
                                            var properties = amqp_basic_properties_t()
                                            properties._flags =
                                                UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG) | UInt32(AMQP_BASIC_CORRELATION_ID_FLAG)
                                                | UInt32(AMQP_BASIC_REPLY_TO_FLAG) | UInt32(AMQP_BASIC_MESSAGE_ID_FLAG) | UInt32(AMQP_BASIC_TYPE_FLAG)
                                            properties.content_type = Self.bytes(content)
                                            properties.correlation_id = Self.bytes(correlation)
                                            properties.reply_to = Self.bytes(reply)
                                            properties.message_id = Self.bytes(message)
                                            properties.type = Self.bytes(type)
                                            var header = amqp_table_entry_t()
                                            header.key = Self.bytes(key)
                                            header.value.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                                            header.value.value.bytes = Self.bytes(credentials)
                                            withUnsafeMutablePointer(to: &header) { entry in
                                                if target.authorization != nil {
                                                    properties._flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
                                                    properties.headers = amqp_table_t(num_entries: 1, entries: entry)
                                                }
                                                do throws(BenchmarkError) {
                                                    try connection.publish(
                                                        exchange: amqp_bytes_t(len: 0, bytes: nil), routingKey: Self.bytes(routingKey),
                                                        properties: &properties,
                                                        body: amqp_bytes_t(len: payload.count, bytes: payload.baseAddress)
                                                    )
                                                } catch {
                                                    status = error
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let status { throw status }
        return id
    }

    /// Reads replies until the one for `id` arrives (earlier, late ones are dropped).
    private func awaitReply(_ id: UInt64) throws(BenchmarkError) {
        while true {
            guard let reply = try connection.nextDelivery(timeout: replyTimeout) else {
                throw BenchmarkError("no reply within \(replyTimeout.tv_sec) s")
            }
            let matches =
                reply.properties._flags & UInt32(AMQP_BASIC_CORRELATION_ID_FLAG) != 0
                && Self.decimal(reply.properties.correlation_id) == id
            connection.releaseBuffers()
            if matches { return }
        }
    }

    private static func bytes(_ buffer: UnsafeBufferPointer<UInt8>) -> amqp_bytes_t {
        amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
    }

    private static func bytes(_ buffer: UnsafeMutableRawBufferPointer) -> amqp_bytes_t {
        amqp_bytes_t(len: buffer.count, bytes: buffer.baseAddress)
    }

    private static func decimal(_ bytes: amqp_bytes_t) -> UInt64? {
        guard bytes.len > 0, bytes.len <= 20, let pointer = bytes.bytes?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var value: UInt64 = 0
        for index in 0..<bytes.len {
            let digit = pointer[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value &* 10 &+ UInt64(digit)
        }
        return value
    }
}
