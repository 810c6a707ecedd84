import TestRandom
import Testing

@testable import AMQP

@Suite struct ConfigurationTests {
    @Test func parsesFullURL() throws {
        let configuration = try AMQPConfiguration(url: "amqp://walink:s%40cret@broker.example:5673/prod%2Fa?heartbeat=15")
        #expect(configuration.host == "broker.example")
        #expect(configuration.port == 5673)
        #expect(configuration.user == "walink")
        #expect(configuration.password == "s@cret")
        #expect(configuration.virtualHost == "prod/a")
        #expect(configuration.heartbeatSeconds == 15)
        #expect(!configuration.useTLS)
        #expect(!configuration.redactedURL.contains("s@cret"))
        #expect(!configuration.redactedURL.contains("cret"))
    }

    @Test func defaultsForShortURLs() throws {
        let plain = try AMQPConfiguration(url: "amqp://")
        #expect(plain.host == "127.0.0.1")
        #expect(plain.port == 5672)
        #expect(plain.virtualHost == "/")
        #expect(plain.user == "guest")
        let tls = try AMQPConfiguration(url: "amqps://[::1]")
        #expect(tls.useTLS)
        #expect(tls.port == 5671)
        #expect(tls.host == "::1")
        #expect(try AMQPConfiguration(url: "amqp://h/%2F").virtualHost == "/")
    }

    @Test(arguments: ["http://x", "amqp://h:0/", "amqp://h:99999/", "amqp://h:port/", "amqp://u:%zz@h/", "amqp://[::1/", "amqp://h/?heartbeat=-1"])
    func rejectsBadURLs(url: String) {
        #expect(throws: AMQPError(.invalidURL)) { try AMQPConfiguration(url: url) }
    }
}

@Suite struct ConfirmTrackerTests {
    @Test func singleAndMultipleAcksSettleTheRightPublishes() {
        var tracker = ConfirmTracker<String>()
        for name in ["a", "b", "c", "d", "e"] { _ = tracker.register(name) }
        #expect(tracker.settle(deliveryTag: 3, multiple: false) == ["c"])
        #expect(tracker.settle(deliveryTag: 3, multiple: false) == [])
        #expect(tracker.settle(deliveryTag: 4, multiple: true) == ["a", "b", "d"])
        #expect(tracker.token(for: 5) == "e")
        #expect(tracker.settle(deliveryTag: 9, multiple: true) == ["e"])
        #expect(tracker.count == 0)
    }

    @Test func drainRestartsNumbering() {
        var tracker = ConfirmTracker<Int>()
        #expect(tracker.register(10) == 1)
        #expect(tracker.register(11) == 2)
        #expect(tracker.drain() == [10, 11])
        #expect(tracker.register(12) == 1)
    }

    @Test func removeAllKeepsOrderOfTheRest() {
        var tracker = ConfirmTracker<Int>()
        for value in 1...6 { _ = tracker.register(value) }
        #expect(tracker.removeAll(where: { $0 % 2 == 0 }) == [2, 4, 6])
        #expect(tracker.settle(deliveryTag: 5, multiple: true) == [1, 3, 5])
    }
}

@Suite struct ContentAssemblerTests {
    let start = ContentAssembler.Start.deliver(consumerTag: "c", deliveryTag: 7, redelivered: false, exchange: "x", routingKey: "k")

    @Test func assemblesBodyAcrossFrames() throws {
        var assembler = ContentAssembler(maxRetainedBodySize: 100)
        try assembler.begin(channel: 1, start)
        #expect(try assembler.header(channel: 1, bodySize: 5, properties: AMQPProperties(type: "t")) == nil)
        #expect(try [UInt8]([1, 2]).withUnsafeBytes { try assembler.body(channel: 1, $0) } == nil)
        let message = try #require(try [UInt8]([3, 4, 5]).withUnsafeBytes { try assembler.body(channel: 1, $0) })
        #expect(message.body == [1, 2, 3, 4, 5])
        #expect(message.properties.type == "t")
        #expect(!assembler.isAssembling)
    }

    @Test func emptyBodyCompletesAtTheHeader() throws {
        var assembler = ContentAssembler(maxRetainedBodySize: 100)
        try assembler.begin(channel: 1, start)
        let message = try #require(try assembler.header(channel: 1, bodySize: 0, properties: AMQPProperties()))
        #expect(message.body.isEmpty)
    }

    @Test func oversizedBodyIsCountedNotKept() throws {
        var assembler = ContentAssembler(maxRetainedBodySize: 3)
        try assembler.begin(channel: 1, start)
        _ = try assembler.header(channel: 1, bodySize: 6, properties: AMQPProperties())
        _ = try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try assembler.body(channel: 1, $0) }
        let message = try #require(try [UInt8](repeating: 1, count: 2).withUnsafeBytes { try assembler.body(channel: 1, $0) })
        #expect(message.body.isEmpty)
        #expect(message.bodySize == 6)
    }

    @Test func outOfOrderFramesAreProtocolErrors() throws {
        var assembler = ContentAssembler(maxRetainedBodySize: 10)
        #expect(throws: ContentAssembler.Failure.headerWithoutMethod) {
            try assembler.header(channel: 1, bodySize: 1, properties: AMQPProperties())
        }
        #expect(throws: ContentAssembler.Failure.bodyWithoutHeader) {
            try [UInt8]([1]).withUnsafeBytes { try assembler.body(channel: 1, $0) }
        }
        try assembler.begin(channel: 1, start)
        #expect(throws: ContentAssembler.Failure.methodDuringContent) { try assembler.begin(channel: 1, start) }
        _ = try assembler.header(channel: 1, bodySize: 1, properties: AMQPProperties())
        #expect(throws: ContentAssembler.Failure.bodyTooLong) {
            try [UInt8]([1, 2]).withUnsafeBytes { try assembler.body(channel: 1, $0) }
        }
    }
}

@Suite struct BackoffTests {
    @Test func growsWithinBoundsAndResets() {
        var backoff = Backoff(initial: 0.1, maximum: 2)
        var random = SeededRandom(seed: 42)
        var caps: [Double] = []
        for attempt in 0..<10 {
            let cap = min(2, 0.1 * Double(1 << attempt))
            let delay = backoff.nextDelay(using: &random)
            #expect(delay >= cap / 2 && delay <= cap)
            caps.append(cap)
        }
        #expect(caps.last == 2)
        backoff.reset()
        #expect(backoff.nextDelay(using: &random) <= 0.1)
    }
}
