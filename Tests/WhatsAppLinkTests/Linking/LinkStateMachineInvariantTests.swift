import Foundation
import Logging
import TestRandom
import Testing
import WhatsAppProtocol

@testable import WhatsAppLink

/// Seeded random walks over ``LinkInput`` sequences in virtual time: orderings no hand-written test lists
/// (stale connections and timers, late answers, requests at every phase, cancels anywhere), checked after
/// every step against the machine's promises to its driver.
///
/// A failure names its seed; `WALINK_WALK_SEED=<seed> swift test --filter LinkStateMachineInvariantTests`
/// replays that walk alone (add `WALINK_WALK_TRACE=1` to print its inputs).
@Suite struct LinkStateMachineInvariantTests {
    /// Walks per run, in shards that run in parallel. The pairing-code steps are the slow ones (each code
    /// costs a 131072-round PBKDF2), so only a quarter of the walks ask for codes.
    static let walks = 400
    static let shards = 2
    static let firstSeed: UInt64 = 0x5EED_0000
    static let replaySeed = ProcessInfo.processInfo.environment["WALINK_WALK_SEED"].flatMap { UInt64($0) }

    static func seeds(shard: Int) -> [UInt64] {
        if let replaySeed { return shard == 0 ? [replaySeed] : [] }
        return (0..<UInt64(walks)).filter { Int($0) % shards == shard }.map { firstSeed + $0 }
    }

    @Test(arguments: 0..<shards)
    func randomWalksKeepTheDriverContract(shard: Int) {
        let seeds = Self.seeds(shard: shard)
        var totals = WalkTotals()
        for seed in seeds {
            var walk = Walk(seed: seed)
            walk.run()
            totals.add(walk)
        }
        #expect(totals.walks == seeds.count)
        // The walks must get deep into the flow, or the promises were only checked on the easy part. (The
        // seeds are fixed, so these counts are too; a change of the odds that starves a phase shows here.)
        if Self.replaySeed == nil {
            #expect(totals.paired >= seeds.count / 4, "too few walks paired: \(totals)")
            #expect(totals.loggedIn >= seeds.count / 8, "too few walks reached <success>: \(totals)")
            #expect(totals.codesIssued >= seeds.count / 10, "too few pairing codes: \(totals)")
            #expect(totals.endings.count >= 8, "too few kinds of ending: \(totals)")
        }
    }
}

/// What the walks covered, to show they went deep enough.
private struct WalkTotals: CustomStringConvertible {
    var walks = 0
    var paired = 0
    var loggedIn = 0
    var codesIssued = 0
    var endings: Set<String> = []

    mutating func add(_ walk: Walk) {
        walks += 1
        if walk.reachedPairSuccess { paired += 1 }
        if walk.reachedSuccess { loggedIn += 1 }
        codesIssued += walk.codesIssued
        if let ending = walk.ending { endings.insert(ending) }
    }

    var description: String {
        "\(walks) walks, \(paired) paired, \(loggedIn) logged in, \(codesIssued) codes, endings \(endings.sorted())"
    }
}

/// One walk: a driver that carries out the machine's actions in virtual time (timers kept with their due
/// time, sent iqs kept for answering) and checks the contract after every step.
private struct Walk {
    let seed: UInt64
    var random: SeededRandom
    var machine: LinkStateMachine
    let primary: TestPrimary
    let initialCredentials: DeviceCredentials
    let phones = [try! PhoneNumber(validating: "15550001111"), try! PhoneNumber(validating: "447700900123")]
    /// Whether this walk asks for pairing codes at all (a minority: each code costs a PBKDF2).
    let usesCodes: Bool

    var elapsed: Duration = .zero
    var connection = 0
    var timers: [LinkTimer.Kind: (timer: LinkTimer, due: Duration)] = [:]
    /// Timers replaced, cancelled or fired: firing them again is a stale firing.
    var staleTimers: [LinkTimer] = []
    /// iqs the machine sent that the walk has not answered.
    var unansweredIQs: [BinaryNode] = []
    var finished = false
    var terminalEvents: [LinkEvent] = []

    // Pairing-code requests
    var nextRequestID = 1
    var requests: [Int: PhoneNumber] = [:]
    var answers: [Int: Int] = [:]
    var abandoned: Set<Int> = []
    /// The code the machine handed out and the ref the walk gave it, while it may be typed.
    var liveCode: (code: PairingCode, ref: [UInt8])?
    /// The ref the walk gave the last accepted companion_hello: the live code's once a request gets the code.
    var pendingRef: [UInt8]?
    var refCounter = 0
    var codesIssued = 0
    /// Secrets the machine produced; none may reach a log record.
    var secrets: Set<String> = []

    var step = 0
    var failed = false
    var reachedPairSuccess = false
    var reachedSuccess = false

    static let tracing = ProcessInfo.processInfo.environment["WALINK_WALK_TRACE"] != nil

    init(seed: UInt64) {
        self.seed = seed
        random = SeededRandom(seed: seed)
        initialCredentials = .seeded(seed)
        machine = try! LinkStateMachine(
            credentials: initialCredentials, configuration: LinkConfiguration(), random: SeededLinkRandom(seed: seed ^ 0xA5A5))
        primary = TestPrimary(seed: seed &+ 1)
        usesCodes = Int.random(in: 0..<4, using: &random) == 0
    }

    var now: LinkTime {
        LinkTime(elapsed: elapsed, date: Date(timeIntervalSince1970: 1_800_000_000).addingTimeInterval(elapsed.seconds))
    }

    var ending: String? {
        switch terminalEvents.first {
        case .paired?: "paired"
        case .timeout?: "timeout"
        case .failed(let failure)?: "failed(\(failure.code))"
        default: finished ? "cancelled" : nil
        }
    }

    // MARK: The walk

    mutating func run() {
        let maximumSteps = Int.random(in: 20...160, using: &random)
        var stepsAfterFinish = 0
        while !failed, step < maximumSteps, stepsAfterFinish < 6 {
            step += 1
            if finished { stepsAfterFinish += 1 }
            let input = nextInput()
            if Self.tracing { print("Walk \(seed) step \(step): \(input)") }
            feed(input)
        }
        guard !failed else { return }
        // The end: a final cancel, then a late request, which must be refused at once.
        feed(.cancel)
        check(finished, "the run did not finish after a cancel")
        let late = nextRequestID
        nextRequestID += 1
        requests[late] = phones[0]
        feed(.requestPairingCode(late, phones[0], showPushNotification: false))
        check(answers[late] == 1, "a request after the end was not answered at once")
        for (id, _) in requests where !abandoned.contains(id) {
            check(answers[id] == 1, "request \(id) answered \(answers[id] ?? 0) times")
        }
        check(timers.isEmpty, "timers still running after the end: \(timers.keys)")
        check(terminalEvents.count <= 1, "\(terminalEvents.count) terminal events")
    }

    /// Records a broken promise with the walk's seed; the walk stops at its first one.
    mutating func check(_ condition: Bool, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard !condition, !failed else { return }
        failed = true
        Issue.record("Walk seed \(seed) (WALINK_WALK_SEED=\(seed)), step \(step): \(message)", sourceLocation: sourceLocation)
    }

    /// Feeds one input and carries out the actions as the driver would, checking each.
    mutating func feed(_ input: LinkInput) {
        let actions = machine.handle(input, at: now)
        for action in actions {
            if finished {
                guard case .answerCodeRequest = action else {
                    check(false, "\(action) after finish (input \(input))")
                    return
                }
            }
            switch action {
            case .connect(let id, _):
                connection = id
            case .send(let node):
                if node.tag == "iq", node["type"] == "get" || node["type"] == "set", node["id"] != nil {
                    unansweredIQs.append(node)
                }
            case .close:
                break
            case .startTimer(let timer, let after):
                if let old = timers[timer.kind] { staleTimers.append(old.timer) }
                timers[timer.kind] = (timer, elapsed + after)
            case .cancelTimer(let kind):
                if let old = timers.removeValue(forKey: kind) { staleTimers.append(old.timer) }
            case .emit(let event):
                emitted(event)
            case .answerCodeRequest(let id, let result):
                check(requests[id] != nil, "answer for unknown request \(id)")
                check(!abandoned.contains(id), "answer for abandoned request \(id)")
                answers[id, default: 0] += 1
                check(answers[id] == 1, "request \(id) answered twice")
                if case .success(let code) = result {
                    secrets.formUnion([code.characters, code.display])
                    codesIssued += 1
                    if let pendingRef { liveCode = (code, pendingRef) }
                }
            case .log(let record):
                let line = "\(record.message) \(record.metadata ?? [:])"
                check(!secrets.contains { line.contains($0) }, "a secret in the log: \(record)")
            case .finish:
                finished = true
            }
        }
        if finished {
            check(timers.isEmpty, "timers still running at the end: \(timers.keys)")
        }
        check(Set(timers.keys) == Set(machine.timerGenerations.keys), "the machine and the driver disagree on the running timers")
        switch machine.state {
        case .restarting: reachedPairSuccess = true
        case .postLogin: reachedSuccess = true
        default: break
        }
    }

    mutating func emitted(_ event: LinkEvent) {
        if event.isTerminal {
            terminalEvents.append(event)
            check(terminalEvents.count == 1, "a second terminal event: \(terminalEvents)")
        }
        if case .qr(let code, _, _) = event { secrets.insert(code) }
        if case .pairingCodeExpired = event { liveCode = nil }
    }

    // MARK: Choosing the next input

    /// The phase decides the odds, so that walks get deep into the flow and still try everything anywhere.
    mutating func nextInput() -> LinkInput {
        enum Move: CaseIterable {
            case start, open, fail, close, stale, stanza, answer, timer, staleTimer, request, abandon, cancel, wait
        }
        // Per mille, roughly; what is left over is a cancel (a few per thousand steps, anywhere).
        let weights: [Move: Int]
        switch machine.state {
        case .idle: weights = [.start: 900, .request: 80, .stale: 15]
        case .registering, .loggingIn:
            weights = [.open: 850, .fail: 10, .close: 10, .stale: 30, .timer: 10, .request: 60, .wait: 25]
        case .registered(let registration):
            // Before the refs, the pair-device timer is the likely one to fire: it ends the run, so rarely.
            let awaitingRefs: Bool
            if case .awaitingPairDevice = registration.refs { awaitingRefs = true } else { awaitingRefs = false }
            weights = [
                .stanza: 370, .answer: 200, .timer: awaitingRefs ? 5 : 150, .staleTimer: 30, .request: 120, .abandon: 30, .close: 8,
                .fail: 2, .stale: 30, .wait: 50,
            ]
        case .restarting: weights = [.stanza: 500, .close: 300, .timer: 80, .answer: 60, .request: 20, .stale: 35]
        case .awaitingSuccess, .postLogin:
            weights = [.stanza: 420, .answer: 400, .timer: 100, .close: 10, .request: 20, .stale: 45]
        case .finished, .modifying:
            weights = [.stanza: 300, .answer: 150, .timer: 100, .staleTimer: 100, .request: 200, .abandon: 100, .stale: 45]
        }
        let total = weights.values.reduce(0, +) + 1
        var roll = Int.random(in: 0..<total, using: &random)
        var move = Move.cancel  // the one left over: a cancel now and then, anywhere
        for candidate in Move.allCases {
            let weight = weights[candidate] ?? 0
            if roll < weight {
                move = candidate
                break
            }
            roll -= weight
        }
        switch move {
        case .start: return .start
        case .open: return .connectionOpened(connection)
        case .fail: return .connectionFailed(connection, Self.connectionErrors.randomElement(using: &random)!)
        case .close:
            return .connectionClosed(connection, Bool.random(using: &random) ? nil : WhatsAppConnectionError(.connectionClosed))
        case .stale: return staleConnectionInput()
        case .stanza: return .received(connection, stanza())
        case .answer: return .received(connection, answer())
        case .timer: return timerFiring() ?? .received(connection, stanza())
        case .staleTimer: return staleTimers.randomElement(using: &random).map { .timerFired($0) } ?? staleConnectionInput()
        case .request: return request()
        case .abandon: return abandon() ?? request()
        case .cancel: return .cancel
        case .wait:
            elapsed += .milliseconds(Int.random(in: 0...30_000, using: &random))
            return .received(connection, BinaryNode("ib", [:], [BinaryNode("dirty")]))
        }
    }

    static let connectionErrors = [
        WhatsAppConnectionError(.handshakeTimeout), WhatsAppConnectionError(.handshakeFailed, detail: "x"),
        WhatsAppConnectionError(.connectFailed, webSocketError: WebSocketError(.connectFailed)),
        WhatsAppConnectionError(.certificateInvalid, certificateError: CertificateError(.intermediateSignatureInvalid)),
    ]

    /// An input about a connection that is not the current one.
    mutating func staleConnectionInput() -> LinkInput {
        let id = connection + (Bool.random(using: &random) ? -1 : 1)
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return .connectionOpened(id)
        case 1: return .connectionFailed(id, WhatsAppConnectionError(.handshakeTimeout))
        case 2: return .connectionClosed(id, nil)
        default: return .received(id, TestPrimary.success())
        }
    }

    /// The running timer due first (time moves to its due time), sometimes any running one.
    mutating func timerFiring() -> LinkInput? {
        guard !timers.isEmpty else { return nil }
        // Ties in due time are broken by generation, so that a seed replays the same walk in any process.
        let running = timers.values.sorted { ($0.due, $0.timer.generation) < ($1.due, $1.timer.generation) }
        let pick = Int.random(in: 0..<5, using: &random) == 0 ? running.randomElement(using: &random)! : running[0]
        timers[pick.timer.kind] = nil
        staleTimers.append(pick.timer)
        elapsed = max(elapsed, pick.due)
        return .timerFired(pick.timer)
    }

    mutating func request() -> LinkInput {
        guard usesCodes || machine.state.answersRequestsAtOnce else {
            // Code-free walks ask only where the answer costs no PBKDF2.
            return .received(connection, TestPrimary.notification(type: "devices", id: nextID("n"), []))
        }
        let id = nextRequestID
        nextRequestID += 1
        let phone = Int.random(in: 0..<5, using: &random) == 0 ? phones[1] : phones[0]
        requests[id] = phone
        return .requestPairingCode(id, phone, showPushNotification: Bool.random(using: &random))
    }

    mutating func abandon() -> LinkInput? {
        let outstanding = requests.keys.filter { answers[$0] == nil && !abandoned.contains($0) }.sorted()
        guard let id = outstanding.randomElement(using: &random) else { return nil }
        // The driver answers an abandoned request itself (cancelled) before telling the machine.
        abandoned.insert(id)
        return .abandonPairingCodeRequest(id)
    }

    // MARK: Stanzas

    mutating func nextID(_ prefix: String) -> String {
        refCounter += 1
        return "\(prefix)-\(refCounter)"
    }

    /// A stanza the server or the phone might send now: mostly what fits the phase, now and then anything.
    mutating func stanza() -> BinaryNode {
        enum Kind: CaseIterable {
            case pairDevice, pairSuccess, staleKeyPairSuccess, malformedPairSuccess, restart, streamError, success, failure
            case regRefresh, linkCode, passkey, ping, receipt, streamEnd, other
        }
        var weights: [Kind: Int]
        switch machine.state {
        case .registered(let registration):
            let awaitingRefs: Bool
            if case .awaitingPairDevice = registration.refs { awaitingRefs = true } else { awaitingRefs = false }
            // Stanzas that end the run are rare here, so that walks get to codes, scans and the login.
            weights = [
                .pairDevice: awaitingRefs ? 200 : 40, .pairSuccess: 25, .staleKeyPairSuccess: 2, .malformedPairSuccess: 1, .restart: 1,
                .streamError: 1, .success: 10, .failure: 1, .regRefresh: 40, .linkCode: usesCodes ? 80 : 15, .passkey: 10,
                .ping: 40, .receipt: 20, .streamEnd: 10, .other: 20,
            ]
        case .restarting:
            weights = [.restart: 100, .streamError: 2, .pairSuccess: 10, .regRefresh: 10, .ping: 25, .streamEnd: 25, .receipt: 10]
        case .awaitingSuccess:
            weights = [.success: 100, .failure: 3, .streamError: 3, .pairSuccess: 5, .ping: 20, .receipt: 10]
        case .postLogin:
            weights = [.ping: 60, .receipt: 40, .streamError: 2, .success: 10, .linkCode: 5, .regRefresh: 5]
        default:
            weights = [:]
        }
        for kind in Kind.allCases { weights[kind, default: 0] += 1 }
        var roll = Int.random(in: 0..<weights.values.reduce(0, +), using: &random)
        var kind = Kind.other
        for candidate in Kind.allCases {
            if roll < weights[candidate]! {
                kind = candidate
                break
            }
            roll -= weights[candidate]!
        }
        switch kind {
        case .pairDevice:
            let count = Int.random(in: 0...6, using: &random)
            var refs = Array(TestPrimary.sixRefs.prefix(count))
            if count > 0, Int.random(in: 0..<8, using: &random) == 0 { refs[0] = "bad,ref" }
            return primary.pairDevice(id: nextID("pd"), refs: refs)
        case .pairSuccess:
            return primary.validPairSuccess(for: machine.credentials, id: nextID("ps"))
        case .staleKeyPairSuccess:
            // Keyed with the secret the run started with: an HMAC mismatch once the secret rotated.
            return primary.validPairSuccess(for: initialCredentials, id: nextID("ps"))
        case .malformedPairSuccess:
            return primary.pairSuccess(id: nextID("ps"), deviceIdentity: [0xFF, 0x01])
        case .restart:
            return BinaryNode("stream:error", ["code": "515"])
        case .streamError:
            return BinaryNode("stream:error", ["code": .string(["503", "401"].randomElement(using: &random)!)])
        case .success:
            return TestPrimary.success()
        case .failure:
            return BinaryNode("failure", ["reason": "401", "location": "lla"])
        case .regRefresh:
            return TestPrimary.regRefresh(id: nextID("rr"), child: Bool.random(using: &random) ? "companion_reg_refresh" : "pair-device-rotate-qr")
        case .linkCode:
            return linkCodeNotification()
        case .passkey:
            return TestPrimary.notification(
                type: "passkey_prologue_request", id: nextID("pk"),
                [BinaryNode("passkey_request_options", [:], .bytes(Array("{}".utf8)))])
        case .ping:
            return BinaryNode("iq", ["from": .jid(.serverJID), "type": "get", "xmlns": "urn:xmpp:ping", "id": .string(nextID("sp"))])
        case .receipt:
            return BinaryNode("receipt", ["from": .jid(.serverJID), "id": .string(nextID("r"))])
        case .streamEnd:
            return BinaryNode("xmlstreamend")
        case .other:
            return TestPrimary.notification(type: "devices", id: nextID("n"), [])
        }
    }

    /// `link_code_companion_reg`: primary_hello for the live code (or a wrong ref), refresh_code, or none.
    mutating func linkCodeNotification() -> BinaryNode {
        let ref = liveCode?.ref ?? Array("REF-none".utf8)
        switch Int.random(in: 0..<4, using: &random) {
        case 0 where liveCode != nil:
            let (hello, _) = primary.primaryHello(code: liveCode!.code, ref: ref, id: nextID("ph"))
            return hello
        case 1:
            let wrongRef = Bool.random(using: &random)
            return TestPrimary.notification(
                type: "link_code_companion_reg", id: nextID("rc"),
                [
                    BinaryNode(
                        "link_code_companion_reg", ["stage": "refresh_code", "force_manual_refresh": "true"],
                        [BinaryNode("link_code_pairing_ref", [:], .bytes(wrongRef ? Array("other".utf8) : ref))])
                ])
        default:
            return TestPrimary.notification(
                type: "link_code_companion_reg", id: nextID("lc"),
                [BinaryNode("link_code_companion_reg", ["stage": "primary_hello"], [BinaryNode("link_code_pairing_ref", [:], .bytes(ref))])])
        }
    }

    /// The server's answer to an iq the machine sent (or to one it never sent).
    mutating func answer() -> BinaryNode {
        guard !unansweredIQs.isEmpty, Int.random(in: 0..<10, using: &random) > 0 else {
            return TestPrimary.result(id: nextID("unknown"))
        }
        let iq = unansweredIQs.remove(at: Int.random(in: 0..<unansweredIQs.count, using: &random))
        let id = iq["id"]!
        let roll = Int.random(in: 0..<10, using: &random)
        switch iq.child(named: "link_code_companion_reg")?["stage"] {
        case "companion_hello":
            if roll < 7 {
                refCounter += 1
                let ref = Array("REF-\(refCounter)".utf8)
                pendingRef = ref
                return TestPrimary.codeAccepted(id: id, ref: ref)
            }
            return roll < 9 ? TestPrimary.error(id: id, code: 429, text: "rate-overlimit", backoff: 30) : TestPrimary.result(id: id)
        case "companion_finish":
            return roll < 8 ? TestPrimary.result(id: id) : TestPrimary.error(id: id, code: 400, text: "bad-request")
        default:
            if iq["xmlns"] == "encrypt", iq.child(named: "count") != nil {
                return TestPrimary.result(id: id, [BinaryNode("count", ["value": roll < 5 ? "0" : "40"])])
            }
            return roll < 8 ? TestPrimary.result(id: id) : TestPrimary.error(id: id, code: 500, text: "internal")
        }
    }

}

extension LinkStateMachine.State {
    /// Registered, restarting or later: a pairing-code request is answered at once, with no PBKDF2.
    fileprivate var answersRequestsAtOnce: Bool {
        switch self {
        case .idle, .registering, .registered: false
        case .restarting, .loggingIn, .awaitingSuccess, .postLogin, .finished, .modifying: true
        }
    }
}
