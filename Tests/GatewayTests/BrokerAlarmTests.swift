import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport
import WhatsAppSimulator

/// A broker that blocks publishers (a memory alarm) must not stall any pairing: links hand their
/// events to an outbox, so keepalives and QR rotation go on while the events wait.
@Suite(.serialized, .timeLimit(.minutes(10))) struct BrokerAlarmTests {
    static let sessions = 100
    static let keepAlive: ClosedRange<Duration> = .seconds(2) ... .seconds(3)
    static let alarm: Duration = .seconds(20)

    @Test func aMemoryAlarmStallsNoPairingAndHeldEventsGoOutInOrder() async throws {
        let broker = PrivateBroker(port: 5694)
        try await broker.start()
        defer { broker.stopNow() }
        // Long enough codes that no link runs out of them during the test (6 s + 19 × 4 s), short
        // enough that each rotates several times during the alarm.
        let harness = try await LinkingHarness.start(
            timing: .init(firstQR: .seconds(6), nextQR: .seconds(4), refs: 20, keepAlive: Self.keepAlive),
            amqp: try broker.configuration(heartbeat: 30)
        )
        let sessions = (0..<Self.sessions).map { "alarm-\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for session in sessions {
                group.addTask {
                    try await harness.createSession(session)
                    _ = try await harness.call("session.qr", ["session": .string(session)])
                }
            }
            try await group.waitForAll()
        }
        // Every link shows its first code before the alarm.
        let allShowing = await harness.events.wait(timeout: .seconds(180)) { events in
            Set(events.compactMap { $0.qrEvent?.session }).count == Self.sessions
        }
        try #require(allShowing != nil, "not every session showed a QR code")
        let seqBefore = Self.lastSeq(harness.events.items)

        let alarmStart = ContinuousClock.now
        try await broker.control(["set_vm_memory_high_watermark", "0.000001"])
        // The alarm lasts this long: it is the scenario, not a wait for something to happen.
        try await Task.sleep(for: Self.alarm)
        // Events the worker wrote before the broker's block reached it sit unread in the socket and
        // get their broker TTL only once read, after the alarm: those cannot be held back. From
        // then on the worker holds events itself.
        let blockedSince = harness.worker.amqp.blockedSince.map { instant -> Date in
            let age = (ContinuousClock.now - instant).components
            return Date().addingTimeInterval(-Double(age.seconds) - Double(age.attoseconds) / 1e18)
        }
        let heldDuringAlarm = blockedSince != nil
        let arrivedBeforeTheEnd = harness.events.items.count
        let alarmEndDate = Date()
        try await broker.control(["set_vm_memory_high_watermark", "0.4"])
        let alarmEnd = ContinuousClock.now
        #expect(heldDuringAlarm, "the broker never blocked the worker's connection")

        // Keepalives went on, on every link's connection, with no gap over two intervals.
        let twoIntervals = Self.keepAlive.upperBound * 2
        let records = harness.simulator.keepalives
        let byConnection = Dictionary(grouping: records, by: \.connection)
        var coveredConnections = 0
        for (connection, pings) in byConnection {
            // The links' registration connections, all open since before the alarm (every link showed
            // a code by then, and none ended since): the first ping comes within an interval of it.
            let during = pings.map(\.received).filter { $0 >= alarmStart && $0 <= alarmEnd }.sorted()
            guard !during.isEmpty else { continue }
            coveredConnections += 1
            let points = [alarmStart] + during + [alarmEnd]
            let gaps = zip(points, points.dropFirst()).map { $1 - $0 }
            #expect(gaps.allSatisfy { $0 <= twoIntervals }, "connection \(connection): keepalive gap \(gaps.max() ?? .zero)")
        }
        #expect(coveredConnections == Self.sessions, "\(coveredConnections) connections pinged across the whole alarm")
        // The companion side saw the answers: no link gave up on an unanswered keepalive.
        #expect(!harness.events.items.contains { $0.objectValue?["type"] == "auth.failed" })

        // Afterwards the held events go out: every link rotated its codes meanwhile (its newest
        // code is several sequence numbers on), and each session's codes arrive in order.
        let rotations = Int(Self.alarm / .seconds(4)) - 1
        let caughtUp = await harness.events.wait(timeout: .seconds(120)) { events in
            let seqNow = Self.lastSeq(events)
            return sessions.allSatisfy { (seqNow[$0] ?? 0) >= (seqBefore[$0] ?? 0) + rotations }
        }
        #expect(caughtUp != nil, "not every session's newest code arrived after the alarm")
        let events = harness.events.items
        for session in sessions {
            let seqs = events.compactMap { $0.qrEvent }.filter { $0.session == session }.map(\.seq)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(session): codes out of order \(seqs)")
            // Codes that expired while held were dropped, not delivered late.
            #expect(seqs.count < seqs.last ?? 0, "\(session): no code was dropped although the alarm outlived several")
        }
        // What was held arrived once the alarm ended: none of it may be a code that had expired by then.
        let held = events[arrivedBeforeTheEnd...].compactMap(\.qrEvent).filter { $0.sent > (blockedSince ?? .distantFuture) }
        #expect(!held.isEmpty, "no event was held during the alarm")
        let stale = held.filter { $0.expiresAt < alarmEndDate.addingTimeInterval(-1) }
        #expect(stale.isEmpty, "codes delivered after their expiry: \(stale.count)")
        await harness.stop()
    }

    /// The highest `auth.qr` sequence number seen per session.
    static func lastSeq(_ events: [JSONValue]) -> [String: Int] {
        var last: [String: Int] = [:]
        for qr in events.compactMap(\.qrEvent) { last[qr.session] = max(last[qr.session] ?? 0, qr.seq) }
        return last
    }
}

extension JSONValue {
    /// An `auth.qr` event's session, sequence number, expiry, and when the worker handed it to the
    /// broker connection (the event's `time`).
    fileprivate var qrEvent: (session: String, seq: Int, expiresAt: Date, sent: Date)? {
        guard let object = objectValue, object["type"] == "auth.qr", let session = object["session"]?.stringValue,
            let data = object["data"]?.objectValue, case .int(let seq)? = data["seq"],
            let expires = data["expiresAt"]?.stringValue.flatMap(Self.timestamp), let sent = object["time"]?.stringValue.flatMap(Self.timestamp)
        else { return nil }
        return (session, Int(seq), expires, sent)
    }

    private static func timestamp(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}
