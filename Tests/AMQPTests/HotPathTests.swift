import Foundation
import Synchronization
import Testing

@testable import AMQP

/// The connection's hot-path pieces that need no broker: the delivery channel several readers
/// share, the confirm queue, the strings that repeat from message to message, and the reused arena.
@Suite struct DeliveryChannelTests {
    static func delivery(_ tag: UInt64) -> AMQPDelivery {
        AMQPDelivery(
            queue: "q", deliveryTag: tag, connectionGeneration: 1, redelivered: false, exchange: "", routingKey: "q",
            properties: AMQPProperties(), body: [UInt8(truncatingIfNeeded: tag)], bodySize: 1, noAck: false)
    }

    /// Waits (without sleeping) until `count` readers wait in the channel.
    static func waitForWaiters(_ channel: DeliveryChannel, _ count: Int) async {
        while channel.waiterCount < count { await Task.yield() }
    }

    @Test func eachDeliveryGoesToOneReaderInOrderAndTheRestIsBuffered() async {
        let channel = DeliveryChannel()
        let deliveries = AMQPDeliveries(channel: channel)
        async let first: UInt64? = {
            var iterator = deliveries.makeAsyncIterator()
            return await iterator.next()?.deliveryTag
        }()
        async let second: UInt64? = {
            var iterator = deliveries.makeAsyncIterator()
            return await iterator.next()?.deliveryTag
        }()
        await Self.waitForWaiters(channel, 2)
        channel.yield(contentsOf: [1, 2, 3].map(Self.delivery))
        let taken = await [first, second].compactMap { $0 }.sorted()
        #expect(taken == [1, 2])
        #expect(channel.bufferedCount == 1)
        var iterator = deliveries.makeAsyncIterator()
        #expect(await iterator.next()?.deliveryTag == 3)
        #expect(channel.bufferedCount == 0)
    }

    @Test func finishingHandsOutWhatIsBufferedThenEndsEveryReader() async {
        let channel = DeliveryChannel()
        let deliveries = AMQPDeliveries(channel: channel)
        channel.yield(contentsOf: [7, 8].map(Self.delivery))
        channel.finish()
        channel.yield(contentsOf: [9].map(Self.delivery))  // after the end: dropped
        var tags: [UInt64] = []
        for await delivery in deliveries { tags.append(delivery.deliveryTag) }
        #expect(tags == [7, 8])
        await deliveries.ended()  // returns at once
        var iterator = deliveries.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    @Test func finishingWakesWaitingReadersAndEndWaiters() async {
        let channel = DeliveryChannel()
        let deliveries = AMQPDeliveries(channel: channel)
        async let reader: AMQPDelivery? = {
            var iterator = deliveries.makeAsyncIterator()
            return await iterator.next()
        }()
        async let ended: Bool = {
            await deliveries.ended()
            return true
        }()
        await Self.waitForWaiters(channel, 1)
        channel.finish()
        #expect(await reader == nil)
        #expect(await ended)
    }

    @Test func cancellingAWaitingReaderEndsTheChannelForAll() async {
        let channel = DeliveryChannel()
        let deliveries = AMQPDeliveries(channel: channel)
        let cancelled = Task { () -> AMQPDelivery? in
            var iterator = deliveries.makeAsyncIterator()
            return await iterator.next()
        }
        await Self.waitForWaiters(channel, 1)
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        channel.yield(contentsOf: [1].map(Self.delivery))
        #expect(channel.bufferedCount == 0)
        var iterator = deliveries.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }
}

@Suite struct ConfirmQueueTests {
    @Test func settlingFromTheFrontKeepsEverythingElseFindable() {
        var tracker = ConfirmTracker<Int>()
        for value in 1...1_000 { _ = tracker.register(value) }
        // In order, one by one and in runs, past the point where the settled front is dropped.
        for tag in 1...300 { #expect(tracker.settle(deliveryTag: UInt64(tag), multiple: false) == [tag]) }
        #expect(tracker.settle(deliveryTag: 600, multiple: true) == Array(301...600))
        #expect(tracker.count == 400)
        // Out of order in the middle, then a multiple ack across the gap.
        #expect(tracker.settle(deliveryTag: 700, multiple: false) == [700])
        #expect(tracker.settle(deliveryTag: 700, multiple: false) == [])
        #expect(tracker.token(for: 650) == 650)
        #expect(tracker.token(for: 700) == nil)
        #expect(tracker.token(for: 600) == nil)
        #expect(tracker.settle(deliveryTag: 702, multiple: true) == Array(601...699) + [701, 702])
        #expect(tracker.removeAll(where: { $0 % 100 == 0 }) == [800, 900, 1_000])
        #expect(tracker.drain() == Array(703...999).filter { $0 % 100 != 0 })
        #expect(tracker.count == 0)
        #expect(tracker.register(1) == 1)
    }

    @Test func anAckForAnUnknownNumberSettlesNothing() {
        var tracker = ConfirmTracker<String>()
        _ = tracker.register("a")
        #expect(tracker.settle(deliveryTag: 5, multiple: false) == [])
        #expect(tracker.settle(deliveryTag: 0, multiple: true) == [])
        #expect(tracker.count == 1)
    }
}

@Suite struct RepeatedStringsTests {
    static func convert(_ text: String, _ body: (UnsafeRawBufferPointer) -> String) -> String {
        Array(text.utf8).withUnsafeBytes(body)
    }

    @Test func aRepeatIsTheRememberedStringAndAChangeIsNoticed() {
        var repeated = RepeatedStrings()
        let first = Self.convert("amq.rabbitmq.reply-to.abc") { repeated.string($0, .replyTo) }
        let again = Self.convert("amq.rabbitmq.reply-to.abc") { repeated.string($0, .replyTo) }
        #expect(first == "amq.rabbitmq.reply-to.abc")
        #expect(again == first)
        // Same bytes in another field: that field's own entry.
        #expect(Self.convert("amq.rabbitmq.reply-to.abc") { repeated.string($0, .type) } == first)
        // One byte different, or a prefix: a different string.
        #expect(Self.convert("amq.rabbitmq.reply-to.abd") { repeated.string($0, .replyTo) } == "amq.rabbitmq.reply-to.abd")
        #expect(Self.convert("amq.rabbitmq.reply-to.ab") { repeated.string($0, .replyTo) } == "amq.rabbitmq.reply-to.ab")
        #expect(Self.convert("") { repeated.string($0, .replyTo) } == "")
    }

    @Test func longAndInvalidValuesAreConvertedAsUsual() {
        var repeated = RepeatedStrings()
        let long = String(repeating: "x", count: RepeatedStrings.maxLength + 1)
        #expect(Self.convert(long) { repeated.string($0, .type) } == long)
        #expect(Self.convert(long) { repeated.string($0, .type) } == long)
        let invalid: [UInt8] = [0x61, 0xFF, 0x62]
        #expect(invalid.withUnsafeBytes { repeated.string($0, .type) } == "a\u{FFFD}b")
        #expect(invalid.withUnsafeBytes { repeated.headerName($0) } == "a\u{FFFD}b")
    }

    @Test func headerNamesAndValuesKeepTheLastFew() {
        var repeated = RepeatedStrings()
        let names = (0..<(RepeatedStrings.headerSlots + 3)).map { "x-header-\($0)" }
        for _ in 0..<2 {
            for name in names { #expect(Self.convert(name) { repeated.headerName($0) } == name) }
        }
        for name in names {
            let value = Array("Bearer \(name)".utf8)
            #expect(value.withUnsafeBytes { repeated.bytes($0) } == value)
            #expect(value.withUnsafeBytes { repeated.bytes($0) } == value)
        }
    }
}

@Suite struct CArenaTests {
    @Test func theBlockIsReusedAndGrowsToWhatACycleNeeded() {
        let arena = CArena(capacity: 16)
        let small = arena.allocate(8)
        #expect(arena.isInBlock(small))
        let large = arena.allocate(32)  // does not fit: allocated on its own
        #expect(!arena.isInBlock(large))
        arena.reset()
        #expect(arena.blockSize >= 40)
        let again = arena.allocate(8)
        let next = arena.allocate(32)
        #expect(arena.isInBlock(again) && arena.isInBlock(next))
        #expect(Int(bitPattern: next) % 8 == 0)
        #expect(next >= again + 8)
        arena.reset()
        #expect(arena.allocate(8) == again)  // the same memory, cycle after cycle
    }

    @Test func withoutABlockEverythingIsAllocatedOnItsOwn() {
        let arena = CArena()
        #expect(!arena.isInBlock(arena.allocate(8)))
        arena.reset()
        #expect(arena.blockSize == 0)
    }
}

@Suite(.timeLimit(.minutes(1))) struct ConnectionExecutorTests {
    /// A stand-in for the connection thread: runs the executor's jobs, sleeping in `poll` on the
    /// wake-up pipe (without a timeout, so a lost wake-up would hang the test) until told to stop.
    final class LoopThread: Sendable {
        let executor: AMQPConnectionExecutor
        let wakeup = WakeupPipe()
        private let stopRequested = Atomic<Bool>(false)
        private let ended = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        init() {
            executor = AMQPConnectionExecutor(wakeup: wakeup)
            let thread = Thread { [self] in
                executor.attach()
                var jobs: [UnownedJob] = []
                while !stopRequested.load(ordering: .acquiring) {
                    executor.runJobs(using: &jobs)
                    guard !executor.hasJobs else { continue }
                    var descriptor = pollfd(fd: wakeup.readDescriptor, events: Int16(POLLIN), revents: 0)
                    if poll(&descriptor, 1, -1) > 0 { wakeup.drain() }
                }
                executor.detach()
                let waiter = ended.withLock { state in
                    state.done = true
                    return state.waiter
                }
                waiter?.resume()
            }
            thread.start()
        }

        func stop() async {
            stopRequested.store(true, ordering: .releasing)
            wakeup.signal()
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = ended.withLock { state in
                    if !state.done { state.waiter = continuation }
                    return state.done
                }
                if done { continuation.resume() }
            }
        }
    }

    @Test func tasksPreferringItRunOnItsThreadUntilItEnds() async {
        let loop = LoopThread()
        let executor = loop.executor
        #expect(!executor.isOnConnectionThread)
        // Queued from another thread: the loop is woken and runs it.
        let ranThere = await Task(executorPreference: executor) { executor.isOnConnectionThread }.value
        #expect(ranThere)
        // Suspended and resumed from elsewhere (a continuation resumed by the test's task): back on
        // the loop's thread afterwards.
        let resumedThere = await Task(executorPreference: executor) { () -> Bool in
            await Task.yield()
            await withCheckedContinuation { continuation in
                Task.detached { continuation.resume() }
            }
            return executor.isOnConnectionThread
        }.value
        #expect(resumedThere)
        await loop.stop()
        // Once the thread has ended, such tasks still run, elsewhere.
        let ranAfterwards = await Task(executorPreference: executor) { executor.isOnConnectionThread }.value
        #expect(!ranAfterwards)
    }
}
