import Foundation
import WhatsAppProtocol

/// A point in time as the state machine sees it: a monotonic reading for durations and the wall clock for
/// the dates it reports. The driver passes the real clocks; tests pass made-up values.
struct LinkTime: Sendable, Hashable {
    /// Monotonic time since an arbitrary origin (the run's start).
    var elapsed: Duration
    /// Wall-clock time for `expiresAt` and `pairedAt`.
    var date: Date

    func date(after duration: Duration) -> Date {
        date.addingTimeInterval(duration.seconds)
    }
}

extension Duration {
    /// As a `TimeInterval`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// A timer the machine asks the driver to run. Starting a timer of a kind replaces the running one of that
/// kind; a firing whose generation is not the latest is stale and ignored.
struct LinkTimer: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        /// The current QR ref's lifetime.
        case qrRotation
        /// The registration connection is up; `pair-device` must arrive.
        case pairDevice
        /// The live pairing code's lifetime.
        case pairingCode
        /// pair-success must follow `primary_hello` within this.
        case pairingCodeStage2
        /// One pairing-code request's overall bound.
        case codeRequest(Int)
        /// Waiting for the answer to the iq with this id.
        case iq(String)
        case keepAlive
        /// pair-success accepted: the 515 and close must come.
        case restart
        /// Login connection: `<success>` must come.
        case login
        /// After `<success>`: the post-login iqs must be done.
        case postLogin
        /// A passkey request keeps the connection up this long.
        case passkey
    }

    let kind: Kind
    let generation: Int
}

/// Inputs to ``LinkStateMachine``.
enum LinkInput: Sendable {
    /// Begin: open the registration connection.
    case start
    /// The connection opened by `.connect(id, …)` finished its handshake.
    case connectionOpened(Int)
    /// The connection could not be opened (WebSocket, TLS, Noise or certificate failure).
    case connectionFailed(Int, WhatsAppConnectionError)
    /// A stanza arrived on the connection.
    case received(Int, BinaryNode)
    /// The connection closed; nil error for a clean close.
    case connectionClosed(Int, WhatsAppConnectionError?)
    case timerFired(LinkTimer)
    /// Command: a pairing code for `phone` (request id chosen by the driver).
    case requestPairingCode(Int, PhoneNumber, showPushNotification: Bool)
    /// The requester stopped waiting (its task was cancelled).
    case abandonPairingCodeRequest(Int)
    /// Command: stop without a terminal event.
    case cancel
}

/// What the driver must do, in order.
enum LinkAction: Sendable {
    /// Open connection `id` (replacing none: the previous one is closed by then) with this ClientPayload.
    case connect(Int, payload: [UInt8])
    /// Send on the current connection.
    case send(BinaryNode)
    /// Close the current connection; a `connectionClosed` input follows.
    case close
    case startTimer(LinkTimer, after: Duration)
    case cancelTimer(LinkTimer.Kind)
    case emit(LinkEvent)
    /// Answer a pairing-code request.
    case answerCodeRequest(Int, Result<PairingCode, LinkError>)
    /// Something worth a log line; the machine holds no logger.
    case log(LinkLogRecord)
    /// The run is over: stop (after the actions before this one).
    case finish
}

/// The companion side of WhatsApp linking, with no I/O (linking spec §4–§8, 2026 addendum §A–§C): QR refs and
/// their rotation, `companion_reg_refresh`, the pairing-code exchange, pair-success, the 515 restart, the
/// login and the post-login iqs, keepalive, and exactly one terminal event.
///
/// Feed it ``LinkInput``s with the time they happened; it returns the ``LinkAction``s to carry out.
///
/// Each phase's data lives in its ``State`` case (postgres-nio's ConnectionStateMachine shape): the refs and
/// the pairing-code exchange exist only while registered, the paired identity only from pair-success on.
/// What spans phases stays here: the device's keys, the connection id, timers, iqs and keepalive.
struct LinkStateMachine: Sendable {
    enum State: Sendable {
        /// Not started. Pairing-code requests made this early wait for the refs.
        case idle(waiting: [PendingCodeRequest])
        /// The registration connection is being opened.
        case registering(waiting: [PendingCodeRequest])
        /// The registration connection is up: refs, scans, pairing codes.
        case registered(Registration)
        /// pair-success accepted; waiting for the 515 and the close.
        case restarting(PairedIdentity)
        /// The login connection is being opened.
        case loggingIn(PairedIdentity)
        /// The login connection is up; waiting for `<success>`.
        case awaitingSuccess(PairedIdentity)
        /// `<success>` arrived; the post-login iqs are running.
        case postLogin(PostLogin)
        case finished
        /// Only while a transition mutates a payload in place: the payload then has no second owner, so
        /// its arrays are not copied on write.
        case modifying
    }

    /// What an iq we sent was for.
    enum PendingIQ: Sendable, Hashable {
        case companionHello, companionFinish, ping, preKeyCount, preKeyUpload, passive
    }

    /// A pairing-code request not answered yet.
    struct PendingCodeRequest: Sendable {
        var id: Int
        var phone: PhoneNumber
        var showPushNotification: Bool
    }

    // MARK: State

    let configuration: LinkConfiguration
    let random: any LinkRandom

    /// Written only by the transitions (internal so that those in the `+QR`, `+PairingCode` and `+Pairing`
    /// files can); the driver and the tests only read it.
    var state = State.idle(waiting: [])
    /// The credentials, with the adv secret kept current.
    var credentials: DeviceCredentials
    /// The adv secret's rules (rotation, pair-code adoption); its current value is `credentials.advSecretKey`.
    var advSecret: AdvSecretState

    /// The connection the machine last asked for; inputs about others are stale.
    private(set) var connectionID = 0

    // iqs and timers
    private let iqPrefix: String
    private var iqCounter = 0
    private(set) var pendingIQs: [String: PendingIQ] = [:]
    private(set) var timerGenerations: [LinkTimer.Kind: Int] = [:]
    private var timerCounter = 0

    // Keepalive
    private var awaitingPong = false
    private var receivedSincePing = false
    private var missedPings = 0

    init(credentials: DeviceCredentials, configuration: LinkConfiguration, random: any LinkRandom) throws(AdvSecretError) {
        self.credentials = credentials
        self.configuration = configuration
        self.random = random
        advSecret = try AdvSecretState(initial: credentials.advSecretKey)
        let prefix = random.bytes(2)
        iqPrefix = "\(prefix[0]).\(prefix[1])-"
    }

    /// The QR string last emitted, while its ref is the one showing.
    var currentQR: String? {
        guard case .registered(let registration) = state, case .showing(let rotation) = registration.refs else {
            return nil
        }
        return rotation.code
    }

    /// Whether the current connection is up (handshake done, not closed yet).
    private var isConnectionOpen: Bool {
        switch state {
        case .registered, .restarting, .awaitingSuccess, .postLogin: true
        case .idle, .registering, .loggingIn, .finished: false
        case .modifying: preconditionFailure("state read while being modified")
        }
    }

    // MARK: Entry point

    mutating func handle(_ input: LinkInput, at now: LinkTime) -> [LinkAction] {
        if case .finished = state {
            // Late inputs after the end; only requests still need an answer.
            if case .requestPairingCode(let id, _, _) = input {
                return [.answerCodeRequest(id, .failure(LinkError(.sessionEnded)))]
            }
            return []
        }
        switch input {
        case .start:
            guard case .idle(let waiting) = state else { return [] }
            state = .registering(waiting: waiting)
            return [
                .connect(
                    nextConnectionID(),
                    payload: ClientPayloadBuilder.registration(credentials: credentials, profile: configuration.clientProfile))
            ]
        case .connectionOpened(let id):
            guard id == connectionID else { return [] }
            return connectionOpened(now)
        case .connectionFailed(let id, let error):
            // Idle has no connection yet: nothing can have failed.
            guard id == connectionID, !isIdle else { return [] }
            return finish(.failed(Self.failure(for: error)), connectionGone: true)
        case .connectionClosed(let id, let error):
            guard id == connectionID, !isIdle else { return [] }
            return connectionClosed(error, now)
        case .received(let id, let node):
            guard id == connectionID, isConnectionOpen else { return [] }
            receivedSincePing = true
            return received(node, now)
        case .timerFired(let timer):
            guard timerGenerations[timer.kind] == timer.generation else { return [] }
            timerGenerations[timer.kind] = nil
            return timerFired(timer.kind, now)
        case .requestPairingCode(let id, let phone, let showPush):
            return requestPairingCode(PendingCodeRequest(id: id, phone: phone, showPushNotification: showPush), now)
        case .abandonPairingCodeRequest(let id):
            // The requester has its answer (cancelled) already.
            guard removeWaitingRequest(id) != nil else { return [] }
            return [cancel(.codeRequest(id))]
        case .cancel:
            var actions = answerAllWaiting(LinkError(.cancelled))
            actions += endRun()
            return actions
        }
    }

    private var isIdle: Bool {
        if case .idle = state { true } else { false }
    }

    // MARK: Connections

    private mutating func nextConnectionID() -> Int {
        connectionID += 1
        return connectionID
    }

    private mutating func connectionOpened(_ now: LinkTime) -> [LinkAction] {
        switch state {
        case .registering(let waiting):
            state = .registered(Registration(pairingCode: PairingCodeExchange(waiting: waiting)))
            return connectionUp(.registration) + [startTimer(.pairDevice, after: configuration.pairDeviceTimeout)]
        case .loggingIn(let identity):
            state = .awaitingSuccess(identity)
            return connectionUp(.login)
        case .idle, .registered, .restarting, .awaitingSuccess, .postLogin, .finished:
            // Only a connection being opened can open.
            return []
        case .modifying:
            preconditionFailure("state read while being modified")
        }
    }

    private mutating func connectionUp(_ purpose: LinkLogRecord.ConnectionPurpose) -> [LinkAction] {
        missedPings = 0
        awaitingPong = false
        return [
            .log(.connectionUp(purpose)),
            startTimer(.keepAlive, after: random.duration(in: configuration.keepAliveInterval)),
        ]
    }

    private mutating func connectionClosed(_ error: WhatsAppConnectionError?, _ now: LinkTime) -> [LinkAction] {
        switch state {
        case .restarting(let identity):
            // The expected close after 515 (or our own after the restart timeout): log in on a new connection.
            return [cancel(.restart), cancel(.keepAlive)] + openLoginConnection(identity)
        case .postLogin(let postLogin):
            // <success> arrived: the login worked even if the connection dropped before the follow-up iqs.
            return finish(.paired(pairedDevice(postLogin)), connectionGone: true)
        case .registering, .loggingIn:
            // A close before the handshake finished is reported by connectionFailed; be safe anyway.
            return finish(.failed(LinkFailure(.connectionLost, "connection closed during the handshake")), connectionGone: true)
        case .registered(let registration) where lastRefIsRunningOut(registration, now):
            // WhatsApp closes the socket once its last code is done (spec §4.4), which races with our own
            // rotation timer: this is the end of the codes, not a failure.
            return finish(.timeout, connectionGone: true)
        case .registered, .awaitingSuccess:
            let detail = error.map { "\($0.code)" } ?? "closed by the server"
            return finish(.failed(LinkFailure(.connectionLost, "connection lost: \(detail)")), connectionGone: true)
        case .idle, .finished:
            return []
        case .modifying:
            preconditionFailure("state read while being modified")
        }
    }

    private mutating func openLoginConnection(_ identity: PairedIdentity) -> [LinkAction] {
        // pair-success was only accepted with a numeric user; checked again rather than trapping.
        guard let username = UInt64(identity.jid.user) else {
            return finish(.failed(LinkFailure(.serverError, "paired JID has no numeric user")))
        }
        state = .loggingIn(identity)
        let payload = ClientPayloadBuilder.login(
            username: username, device: UInt32(identity.jid.device), profile: configuration.clientProfile)
        return [
            .connect(nextConnectionID(), payload: payload),
            startTimer(.login, after: configuration.loginTimeout),
        ]
    }

    /// Maps a connection failure to the reported reason.
    static func failure(for error: WhatsAppConnectionError) -> LinkFailure {
        switch error.code {
        case .certificateInvalid:
            let check = error.certificateError.map { "\($0.code)" } ?? "rejected"
            return LinkFailure(.certificateInvalid, "server certificate chain invalid: \(check)")
        case .handshakeTimeout:
            return LinkFailure(.timeout, "no Noise handshake answer in time")
        case .handshakeFailed:
            return LinkFailure(.handshakeFailed, "Noise handshake failed: \(error.detail ?? "\(error.code)")")
        case .connectFailed:
            switch error.webSocketError?.code {
            case .timeout?: return LinkFailure(.timeout, "connect timeout")
            case .tlsFailure?, .tlsConfiguration?:
                return LinkFailure(.handshakeFailed, "TLS failed: \(error.webSocketError?.detail ?? "handshake")")
            case .upgradeRejected?: return LinkFailure(.handshakeFailed, "WebSocket upgrade rejected")
            default: return LinkFailure(.connectionLost, "cannot connect: \(error.webSocketError?.code.description ?? "error")")
            }
        default:
            return LinkFailure(.connectionLost, "connection lost: \(error.code)")
        }
    }

    // MARK: Stanzas

    private mutating func received(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        switch node.tag {
        case "iq": return receivedIQ(node, now)
        case "notification": return receivedNotification(node, now)
        case "stream:error": return receivedStreamError(node, now)
        case "success": return receivedSuccess(node, now)
        case "failure":
            let reason = node["reason"].flatMap { Int($0) }
            let text = reason.map { Self.failureName($0) } ?? "unknown"
            return finish(.failed(LinkFailure(.loginFailed, "login refused: \(text)", serverCode: reason)))
        case "receipt", "message", "call":
            return Stanzas.ack(for: node).map { [.send($0)] } ?? []
        case "xmlstreamend":
            return [.log(.streamEnded)]
        default:
            return [.log(.stanzaIgnored(tag: node.tag))]
        }
    }

    private mutating func receivedIQ(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        let type = node["type"]
        if type == "result" || type == "error", let id = node["id"], let purpose = pendingIQs.removeValue(forKey: id) {
            return [cancel(.iq(id))] + iqAnswered(purpose, node: node, isError: type == "error", now)
        }
        if type == "set", Stanzas.isFromServer(node) {
            if let pairDevice = node.child(named: "pair-device"), node.children.count == 1 {
                return receivedPairDevice(node, pairDevice, now)
            }
            if let pairSuccess = node.child(named: "pair-success") {
                return receivedPairSuccess(node, pairSuccess, now)
            }
        }
        if type == "get", node["xmlns"] == "urn:xmpp:ping", let id = node["id"] {
            return [.send(Stanzas.iqResult(to: node.attributes["from"] ?? Stanzas.server, id: id))]
        }
        return [.log(.iqIgnored(type: type, id: node["id"]))]
    }

    private mutating func iqAnswered(_ purpose: PendingIQ, node: BinaryNode?, isError: Bool, _ now: LinkTime) -> [LinkAction] {
        switch purpose {
        case .ping:
            awaitingPong = false
            missedPings = 0
            return []
        case .companionHello, .companionFinish:
            guard case .registered(var registration) = state else { return [] }
            state = .modifying
            let outcome: RegistrationOutcome
            if purpose == .companionHello {
                outcome = companionHelloAnswered(node: node, isError: isError, &registration, now)
            } else {
                outcome = companionFinishAnswered(node: node, isError: isError, &registration, now)
            }
            return settle(registration, outcome)
        case .preKeyCount, .preKeyUpload, .passive:
            return postLoginStep(purpose, node: node, isError: isError, now)
        }
    }

    private mutating func receivedNotification(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        // The ack goes first, as whatsmeow sends it (code-conn1: ack, then companion_finish); it carries
        // nothing that depends on the handling.
        let ack: [LinkAction] = Stanzas.ack(for: node).map { [.send($0)] } ?? []
        let type = node["type"]
        guard type == "companion_reg_refresh" || type == "link_code_companion_reg" || type == "passkey_prologue_request"
        else { return ack + [.log(.notificationIgnored(type: type))] }
        // All three belong to the registration; once paired they are only acked.
        guard case .registered(var registration) = state else { return ack }
        state = .modifying
        let outcome: RegistrationOutcome
        switch type {
        case "companion_reg_refresh": outcome = receivedRegRefresh(node, &registration, now)
        case "link_code_companion_reg": outcome = receivedLinkCodeNotification(node, &registration, now)
        default: outcome = receivedPasskeyRequest(node, &registration)
        }
        return ack + settle(registration, outcome)
    }

    private mutating func receivedStreamError(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        let code = node["code"].flatMap { Int($0) }
        if code == 515, case .restarting = state {
            return [.log(.restartRequested), .close]
        }
        var detail = "stream error \(node["code"] ?? "without code")"
        if let conflict = node.child(named: "conflict") { detail += ", conflict \(conflict["type"] ?? "")" }
        switch state {
        case .awaitingSuccess, .postLogin:
            return finish(.failed(LinkFailure(.loginFailed, detail, serverCode: code)))
        default:
            return finish(.failed(LinkFailure(.serverError, detail, serverCode: code)))
        }
    }

    // MARK: Timers

    private mutating func timerFired(_ kind: LinkTimer.Kind, _ now: LinkTime) -> [LinkAction] {
        switch kind {
        case .qrRotation, .pairDevice, .pairingCode, .pairingCodeStage2, .passkey:
            // The registration's own timers; after pair-success they are cancelled, so only stale ones remain.
            guard case .registered(var registration) = state else { return [] }
            state = .modifying
            let outcome = registrationTimerFired(kind, &registration, now)
            return settle(registration, outcome)
        case .codeRequest(let id):
            guard removeWaitingRequest(id) != nil else { return [] }
            return [.answerCodeRequest(id, .failure(LinkError(.timeout)))]
        case .iq(let id):
            guard let purpose = pendingIQs.removeValue(forKey: id) else { return [] }
            return [.log(.iqTimedOut(id: id))] + iqAnswered(purpose, node: nil, isError: true, now)
        case .keepAlive:
            return keepAlive(now)
        case .restart:
            guard case .restarting = state else { return [] }
            return [.log(.restartTimedOut), .close]
        case .login:
            switch state {
            case .loggingIn, .awaitingSuccess: return finish(.failed(LinkFailure(.timeout, "no <success> after logging in")))
            default: return []
            }
        case .postLogin:
            guard case .postLogin(let postLogin) = state else { return [] }
            return finish(.paired(pairedDevice(postLogin)))
        }
    }

    private mutating func keepAlive(_ now: LinkTime) -> [LinkAction] {
        guard isConnectionOpen else { return [] }
        if awaitingPong && !receivedSincePing {
            missedPings += 1
        } else {
            missedPings = 0
        }
        if missedPings >= configuration.keepAliveMaximumMissed {
            return finish(.failed(LinkFailure(.connectionLost, "keepalive unanswered")))
        }
        let id = nextIQID()
        pendingIQs[id] = .ping
        awaitingPong = true
        receivedSincePing = false
        return [.send(Stanzas.ping(id: id)), startTimer(.keepAlive, after: random.duration(in: configuration.keepAliveInterval))]
    }

    // MARK: Pairing-code requests

    private mutating func requestPairingCode(_ request: PendingCodeRequest, _ now: LinkTime) -> [LinkAction] {
        switch state {
        case .idle(var waiting), .registering(var waiting):
            // Before the refs: the request waits (for the first requester's number only).
            if let first = waiting.first, first.phone != request.phone {
                return [.answerCodeRequest(request.id, .failure(LinkError(.numberConflict)))]
            }
            let wasIdle = isIdle
            state = .modifying
            waiting.append(request)
            state = wasIdle ? .idle(waiting: waiting) : .registering(waiting: waiting)
            return [startTimer(.codeRequest(request.id), after: configuration.pairingCodeRequestTimeout)]
        case .registered(var registration):
            state = .modifying
            let outcome = requestPairingCode(request, &registration, now)
            return settle(registration, outcome)
        case .restarting, .loggingIn, .awaitingSuccess, .postLogin:
            return [.answerCodeRequest(request.id, .failure(LinkError(.alreadyPaired)))]
        case .finished:
            return [.answerCodeRequest(request.id, .failure(LinkError(.sessionEnded)))]
        case .modifying:
            preconditionFailure("state read while being modified")
        }
    }

    /// Forgets the waiting request `id`; nil if no request with that id waits.
    private mutating func removeWaitingRequest(_ id: Int) -> PendingCodeRequest? {
        switch state {
        case .idle(var waiting), .registering(var waiting):
            guard let index = waiting.firstIndex(where: { $0.id == id }) else { return nil }
            let wasIdle = isIdle
            state = .modifying
            let request = waiting.remove(at: index)
            state = wasIdle ? .idle(waiting: waiting) : .registering(waiting: waiting)
            return request
        case .registered(var registration):
            guard let index = registration.pairingCode.waiting.firstIndex(where: { $0.id == id }) else { return nil }
            state = .modifying
            let request = registration.pairingCode.waiting.remove(at: index)
            state = .registered(registration)
            return request
        case .restarting, .loggingIn, .awaitingSuccess, .postLogin, .finished:
            return nil
        case .modifying:
            preconditionFailure("state read while being modified")
        }
    }

    /// Answers every waiting request with `error` (the run ends).
    private mutating func answerAllWaiting(_ error: LinkError) -> [LinkAction] {
        let waiting: [PendingCodeRequest]
        switch state {
        case .idle(let requests):
            waiting = requests
            state = .idle(waiting: [])
        case .registering(let requests):
            waiting = requests
            state = .registering(waiting: [])
        case .registered(var registration):
            waiting = registration.pairingCode.waiting
            state = .modifying
            registration.pairingCode.waiting = []
            state = .registered(registration)
        case .restarting, .loggingIn, .awaitingSuccess, .postLogin, .finished:
            // Answered at pair-success already.
            return []
        case .modifying:
            preconditionFailure("state read while being modified")
        }
        return answer(waiting, .failure(error))
    }

    /// Answers `requests` and stops their timers.
    mutating func answer(_ requests: [PendingCodeRequest], _ result: Result<PairingCode, LinkError>) -> [LinkAction] {
        requests.flatMap { [cancel(.codeRequest($0.id)), .answerCodeRequest($0.id, result)] }
    }

    // MARK: The registration phase

    /// What a step of the registration phase leads to.
    enum RegistrationOutcome {
        /// Stay registered, after these actions.
        case stay([LinkAction])
        /// End the run with this terminal event, after these actions.
        case end(LinkEvent, after: [LinkAction])
        /// pair-success verified: restart as the paired device, after these actions.
        case paired(PairedIdentity, after: [LinkAction])
    }

    /// Puts the registration back (its step ran on it while the state was `.modifying`) and carries out the
    /// step's outcome. Once the refs are gone, nothing but a pairing code or a passkey wait keeps the run
    /// alive (2026 §B.7, §C.3): it ends with `timeout` as soon as neither is left.
    mutating func settle(_ registration: Registration, _ outcome: RegistrationOutcome) -> [LinkAction] {
        switch outcome {
        case .stay(let actions):
            let nothingLeft = registration.hasNothingLeft
            state = .registered(registration)
            return nothingLeft ? actions + finish(.timeout) : actions
        case .end(let event, let actions):
            state = .registered(registration)
            return actions + finish(event)
        case .paired(let identity, let actions):
            state = .restarting(identity)
            return actions
        }
    }

    // MARK: Helpers

    mutating func nextIQID() -> String {
        iqCounter += 1
        return iqPrefix + String(iqCounter)
    }

    /// Registers an iq we send and bounds the wait for its answer.
    mutating func sendIQ(_ node: BinaryNode, id: String, purpose: PendingIQ) -> [LinkAction] {
        pendingIQs[id] = purpose
        return [.send(node), startTimer(.iq(id), after: configuration.iqTimeout)]
    }

    mutating func startTimer(_ kind: LinkTimer.Kind, after duration: Duration) -> LinkAction {
        timerCounter += 1
        timerGenerations[kind] = timerCounter
        return .startTimer(LinkTimer(kind: kind, generation: timerCounter), after: duration)
    }

    mutating func cancel(_ kind: LinkTimer.Kind) -> LinkAction {
        timerGenerations[kind] = nil
        return .cancelTimer(kind)
    }

    /// Ends the run with `event` (one terminal event): answers waiting requests, closes (unless the
    /// connection is gone already), stops.
    mutating func finish(_ event: LinkEvent, connectionGone: Bool = false) -> [LinkAction] {
        var actions: [LinkAction]
        switch event {
        case .failed(let failure): actions = [.log(.linkingFailed(failure))]
        case .timeout: actions = [.log(.linkingTimedOut)]
        case .paired: actions = [.log(.linkingComplete)]
        case .qr, .awaitingPasskey, .pairingCodeExpired: preconditionFailure("not a terminal event: \(event)")
        }
        actions += answerAllWaiting(LinkError(.sessionEnded))
        actions.append(.emit(event))
        actions += endRun(connectionGone: connectionGone)
        return actions
    }

    /// Stops without an event: cancels timers, closes the connection, finishes.
    mutating func endRun(connectionGone: Bool = false) -> [LinkAction] {
        var actions = timerGenerations.keys.map { LinkAction.cancelTimer($0) }
        timerGenerations.removeAll()
        switch state {
        case .idle, .finished: break
        // Any other phase has a connection, open or being opened.
        default: if !connectionGone { actions.append(.close) }
        }
        state = .finished
        pendingIQs.removeAll()
        actions.append(.finish)
        return actions
    }

    /// WhatsApp's `<failure reason>` names (spec 7.3).
    static func failureName(_ reason: Int) -> String {
        switch reason {
        case 400: "generic (400)"
        case 401: "logged out (401)"
        case 402: "temporarily banned (402)"
        case 403: "main device gone (403)"
        case 405: "client outdated (405)"
        case 406: "unknown logout / banned (406)"
        case 409: "bad user agent (409)"
        case 413: "CAT expired (413)"
        case 414: "CAT invalid (414)"
        case 415: "not found (415)"
        case 418: "client unknown (418)"
        case 500: "internal server error (500)"
        case 501: "experimental (501)"
        case 503: "service unavailable (503)"
        default: "reason \(reason)"
        }
    }
}
