import Foundation
import TestRandom
import Testing

@testable import AMQP

@Suite struct ConfigurationTests {
    typealias Node = AMQPConfiguration.Node

    @Test func parsesFullURL() throws {
        let configuration = try AMQPConfiguration(url: "amqp://walink:s%40cret@broker.example:5673/prod%2Fa?heartbeat=15")
        #expect(configuration.nodes == [Node(host: "broker.example", port: 5673)])
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
        #expect(plain.nodes == [Node(host: "127.0.0.1", port: 5672)])
        #expect(plain.virtualHost == "/")
        #expect(plain.user == "guest")
        let tls = try AMQPConfiguration(url: "amqps://[::1]")
        #expect(tls.useTLS)
        #expect(tls.nodes == [Node(host: "::1", port: 5671)])
        #expect(try AMQPConfiguration(url: "amqp://h/%2F").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://:5673/").nodes == [Node(host: "127.0.0.1", port: 5673)])
    }

    @Test func parsesANodeListSharingCredentialsAndVhost() throws {
        let configuration = try AMQPConfiguration(url: "amqp://u:p%2Cw%40rd@h1:5700,h2,[::1]:5701,[fe80::2],10.0.0.3:5702/prod?heartbeat=7")
        #expect(
            configuration.nodes == [
                Node(host: "h1", port: 5700), Node(host: "h2", port: 5672), Node(host: "::1", port: 5701),
                Node(host: "fe80::2", port: 5672), Node(host: "10.0.0.3", port: 5702),
            ])
        #expect(configuration.user == "u")
        #expect(configuration.password == "p,w@rd")
        #expect(configuration.virtualHost == "prod")
        #expect(configuration.heartbeatSeconds == 7)
        // Every node with its port, IPv6 in brackets; the password nowhere.
        #expect(configuration.redactedURL == "amqp://u@h1:5700,h2:5672,[::1]:5701,[fe80::2]:5672,10.0.0.3:5702/prod")
        let tls = try AMQPConfiguration(url: "amqps://a,b:6000")
        #expect(tls.nodes == [Node(host: "a", port: 5671), Node(host: "b", port: 6000)])
    }

    @Test func redactionHidesAnyPasswordInTheListForm() throws {
        var random = SeededRandom(seed: 9)
        for _ in 0..<200 {
            // Passwords of awkward characters, percent-encoded as a URL carries them.
            let password = String((0..<Int.random(in: 1...20, using: &random)).map { _ in "a:@/,%[]Z9?#".randomElement(using: &random)! })
            let encoded = password.utf8.map { byte in
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
            }.joined()
            let configuration = try AMQPConfiguration(url: "amqps://walink:\(encoded)@n1:5671,n2:5671/")
            #expect(configuration.password == password)
            #expect(configuration.redactedURL == "amqps://walink@n1:5671,n2:5671/")
        }
    }

    @Test(arguments: [
        "http://x", "amqp://h:0/", "amqp://h:99999/", "amqp://h:port/", "amqp://u:%zz@h/", "amqp://[::1/", "amqp://h/?heartbeat=-1",
        "amqp://h1,,h2/", "amqp://h1,/", "amqp://,h2/", "amqp://h1,h2:0/", "amqp://h1,[::1/", "amqp://h1,[::1]x/",
    ])
    func rejectsBadURLs(url: String) {
        #expect(throws: AMQPError(.invalidURL)) { try AMQPConfiguration(url: url) }
    }

    @Test func settingsFromTheEnvironment() throws {
        let defaults = try AMQPConfiguration(url: "amqps://u:pw@h1,h2/", environment: [:])
        #expect(defaults.confirmTimeout == .seconds(10))
        #expect(defaults.tlsSystemTrustFile == AMQPConfiguration.systemTrustFile)
        #expect(defaults.tlsCAFile == nil && defaults.tlsCertificateFile == nil && defaults.tlsKeyFile == nil)

        // Files that exist in the checkout stand in for PEM files: only their readability is checked here.
        let readable = #filePath
        let configured = try AMQPConfiguration(
            url: "amqps://u:pw@h1,h2/",
            environment: [
                "WALINK_AMQP_CONFIRM_TIMEOUT": "2.5", "WALINK_AMQP_CA_FILE": readable, "WALINK_AMQP_CERT_FILE": readable,
                "WALINK_AMQP_KEY_FILE": readable,
            ])
        #expect(configured.confirmTimeout == .milliseconds(2500))
        #expect(configured.tlsCAFile == readable)
        #expect(configured.tlsCertificateFile == readable)
        #expect(configured.tlsKeyFile == readable)
        // Empty values count as unset.
        #expect(try AMQPConfiguration(url: "amqp://h/", environment: ["WALINK_AMQP_CA_FILE": ""]).tlsCAFile == nil)
    }

    @Test(arguments: [
        ["WALINK_AMQP_CONFIRM_TIMEOUT": "0"], ["WALINK_AMQP_CONFIRM_TIMEOUT": "-1"], ["WALINK_AMQP_CONFIRM_TIMEOUT": "ten"],
        ["WALINK_AMQP_CONFIRM_TIMEOUT": "nan"], ["WALINK_AMQP_CONFIRM_TIMEOUT": "3601"],
        ["WALINK_AMQP_CA_FILE": "/nonexistent/walink-ca.pem"],
        ["WALINK_AMQP_CERT_FILE": #filePath], ["WALINK_AMQP_KEY_FILE": #filePath],
        ["WALINK_AMQP_CERT_FILE": #filePath, "WALINK_AMQP_KEY_FILE": "/nonexistent/walink.key"],
    ])
    func rejectsBadSettings(environment: [String: String]) {
        let error = #expect(throws: AMQPError(.invalidConfiguration)) {
            try AMQPConfiguration(url: "amqps://user:hunter2-secret@h1,h2/", environment: environment)
        }
        // The message names the setting, never the password.
        #expect(error?.message.contains("WALINK_AMQP_") == true)
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test func tlsFilesNeedAnAMQPSURL() {
        #expect(throws: AMQPError(.invalidConfiguration)) {
            try AMQPConfiguration(url: "amqp://h/", environment: ["WALINK_AMQP_CA_FILE": #filePath])
        }
    }
}

/// The order in which a client tries the nodes.
@Suite struct NodeRotationTests {
    let nodes = (1...4).map { AMQPConfiguration.Node(host: "n\($0)", port: 5672) }

    @Test func theOrderIsAShuffleOfTheNodesThatDiffersBetweenClients() {
        var firsts = Set<String>()
        for seed in 0..<64 {
            var random = SeededRandom(seed: UInt64(seed))
            let rotation = NodeRotation(nodes: nodes, using: &random)
            #expect(Set(rotation.order) == Set(nodes))
            #expect(rotation.order.count == nodes.count)
            firsts.insert(rotation.current.host)
        }
        // Clients started with the same URL spread over the nodes.
        #expect(firsts.count == nodes.count)
    }

    @Test func everyReconnectGoesToTheNextNodeRoundAndRound() {
        var random = SeededRandom(seed: 3)
        var rotation = NodeRotation(nodes: nodes, using: &random)
        let order = rotation.order
        var visited: [AMQPConfiguration.Node] = []
        for _ in 0..<(3 * nodes.count) {
            visited.append(rotation.current)
            rotation.connected()
            rotation.connectionLost()
        }
        #expect(visited == order + order + order)
    }

    @Test func onlyAFullRoundOfFailedNodesBacksOff() {
        var random = SeededRandom(seed: 4)
        var rotation = NodeRotation(nodes: nodes, using: &random)
        var roundsEnded: [Bool] = []
        // Three failures move on at once; the fourth completes the round.
        for _ in 0..<4 { roundsEnded.append(rotation.attemptFailed()) }
        #expect(roundsEnded == [false, false, false, true])
        #expect(rotation.current == rotation.order[0])
        // A connection in between starts the count over.
        roundsEnded = [rotation.attemptFailed()]
        rotation.connected()
        for _ in 0..<4 { roundsEnded.append(rotation.attemptFailed()) }
        #expect(roundsEnded == [false, false, false, false, true])
        // A lone node: every failure is a full round (the backoff of a single broker, as before).
        var single = NodeRotation(nodes: [nodes[0]], using: &random)
        roundsEnded = [single.attemptFailed(), single.attemptFailed()]
        #expect(roundsEnded == [true, true])
        #expect(single.current == nodes[0])
    }
}

/// When unconfirmed publishes make the client give a connection up, on virtual time.
@Suite struct ConfirmDeadlineTests {
    let start = ContinuousClock.now

    @Test func theOldestUnconfirmedPublishDecides() {
        let deadline = ConfirmDeadline(timeout: .seconds(10))
        #expect(!deadline.isMissed(oldestSentAt: nil, blocked: false, now: start + .seconds(3600)))
        #expect(!deadline.isMissed(oldestSentAt: start, blocked: false, now: start + .milliseconds(9999)))
        #expect(deadline.isMissed(oldestSentAt: start, blocked: false, now: start + .seconds(10)))
        #expect(deadline.isMissed(oldestSentAt: start, blocked: false, now: start + .seconds(600)))
    }

    @Test func aBlockedConnectionWaitsAndCountsAgainFromTheUnblocking() {
        var deadline = ConfirmDeadline(timeout: .seconds(10))
        // The broker holds publishes back during a resource alarm: never a reason to leave.
        #expect(!deadline.isMissed(oldestSentAt: start, blocked: true, now: start + .seconds(60)))
        deadline.unblocked(at: start + .seconds(60))
        #expect(!deadline.isMissed(oldestSentAt: start, blocked: false, now: start + .seconds(69)))
        #expect(deadline.isMissed(oldestSentAt: start, blocked: false, now: start + .seconds(70)))
        // A publish sent after the unblocking counts from its own sending.
        #expect(!deadline.isMissed(oldestSentAt: start + .seconds(65), blocked: false, now: start + .seconds(74)))
        #expect(deadline.isMissed(oldestSentAt: start + .seconds(65), blocked: false, now: start + .seconds(75)))
        // A new connection forgets the old one's unblocking.
        deadline.reset()
        #expect(deadline.isMissed(oldestSentAt: start, blocked: false, now: start + .seconds(10)))
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

    @Test func theOldestIsTheFrontOfWhatIsLeft() {
        var tracker = ConfirmTracker<String>()
        #expect(tracker.oldest == nil)
        for name in ["a", "b", "c"] { _ = tracker.register(name) }
        #expect(tracker.oldest == "a")
        _ = tracker.settle(deliveryTag: 2, multiple: false)
        #expect(tracker.oldest == "a")
        _ = tracker.settle(deliveryTag: 1, multiple: false)
        #expect(tracker.oldest == "c")
        _ = tracker.settle(deliveryTag: 3, multiple: true)
        #expect(tracker.oldest == nil)
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
