import Foundation
import Synchronization
import TestRandom
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

/// A reproducible random source for the machine: `TestRandom`'s SplitMix64 behind a lock, as the machine
/// wants a `Sendable` source it can draw from without being mutable itself.
final class SeededLinkRandom: LinkRandom {
    private let generator: Mutex<SeededRandom>

    init(seed: UInt64) { generator = Mutex(SeededRandom(seed: seed)) }

    func bytes(_ count: Int) -> [UInt8] {
        generator.withLock { $0.bytes(count) }
    }
}

extension DeviceCredentials {
    static func seeded(_ seed: UInt64) -> DeviceCredentials {
        var random = SeededRandom(seed: seed)
        return DeviceCredentials.generate(using: &random)
    }
}

/// Drives a ``LinkStateMachine`` with virtual time: no clocks, no sockets. Tracks the timers the machine
/// started so a test can fire them, and records every action.
struct Harness {
    var machine: LinkStateMachine
    let initialCredentials: DeviceCredentials
    let configuration: LinkConfiguration
    let baseDate = Date(timeIntervalSince1970: 1_800_000_000)
    var elapsed: Duration = .zero
    /// Running timers: kind → (timer, when it is due).
    var timers: [LinkTimer.Kind: (timer: LinkTimer, due: Duration)] = [:]
    /// The id of the last `.connect`.
    var connection = 0
    var connects: [(id: Int, payload: [UInt8])] = []
    var events: [LinkEvent] = []
    var sent: [BinaryNode] = []
    var answers: [Int: Result<PairingCode, LinkError>] = [:]
    var closes = 0
    var finished = false
    /// What the machine asked to be logged.
    var logs: [LinkLogRecord] = []

    init(configuration: LinkConfiguration = LinkConfiguration(), credentials: DeviceCredentials = .seeded(7), seed: UInt64 = 99) {
        self.configuration = configuration
        initialCredentials = credentials
        machine = try! LinkStateMachine(
            credentials: credentials, configuration: configuration, random: SeededLinkRandom(seed: seed))
    }

    var now: LinkTime { LinkTime(elapsed: elapsed, date: baseDate.addingTimeInterval(elapsed.seconds)) }
    var date: Date { now.date }

    /// Feeds `input`; returns the actions that act on the world (log records are kept in ``logs``, so that
    /// "nothing happens" reads as an empty result).
    @discardableResult
    mutating func feed(_ input: LinkInput) -> [LinkAction] {
        let actions = machine.handle(input, at: now)
        for action in actions {
            precondition(!finished || action.isHarmlessAfterFinish, "action after finish: \(action)")
            switch action {
            case .connect(let id, let payload):
                connection = id
                connects.append((id, payload))
            case .send(let node): sent.append(node)
            case .close: closes += 1
            case .startTimer(let timer, let after): timers[timer.kind] = (timer, elapsed + after)
            case .cancelTimer(let kind): timers[kind] = nil
            case .emit(let event): events.append(event)
            case .answerCodeRequest(let id, let result): answers[id] = result
            case .log(let record): logs.append(record)
            case .finish: finished = true
            }
        }
        return actions.filter { if case .log = $0 { false } else { true } }
    }

    @discardableResult
    mutating func receive(_ node: BinaryNode) -> [LinkAction] {
        feed(.received(connection, node))
    }

    mutating func advance(_ duration: Duration) {
        elapsed += duration
    }

    /// Moves time to the timer's due time and fires it; nil if no such timer runs.
    @discardableResult
    mutating func fire(_ kind: LinkTimer.Kind) -> [LinkAction]? {
        guard let (timer, due) = timers[kind] else { return nil }
        timers[kind] = nil
        if due > elapsed { elapsed = due }
        return feed(.timerFired(timer))
    }

    /// Start, and the registration connection is up.
    mutating func openRegistration() {
        feed(.start)
        feed(.connectionOpened(connection))
    }

    var terminalEvents: [LinkEvent] { events.filter(\.isTerminal) }

    /// The QR events so far.
    var qrs: [(code: String, sequence: Int, expiresAt: Date)] {
        events.compactMap { if case .qr(let code, let sequence, let expiresAt) = $0 { (code, sequence, expiresAt) } else { nil } }
    }

    /// The nodes sent by `actions`.
    static func sent(_ actions: [LinkAction]) -> [BinaryNode] {
        actions.compactMap { if case .send(let node) = $0 { node } else { nil } }
    }

    static func events(_ actions: [LinkAction]) -> [LinkEvent] {
        actions.compactMap { if case .emit(let event) = $0 { event } else { nil } }
    }
}

extension LinkAction {
    /// Nothing may happen after `.finish` except answering late requests.
    var isHarmlessAfterFinish: Bool {
        if case .answerCodeRequest = self { true } else { false }
    }
}
