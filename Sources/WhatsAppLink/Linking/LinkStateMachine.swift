import Foundation
import Logging
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
    /// The run is over: stop (after the actions before this one).
    case finish
}

/// The companion side of WhatsApp linking, with no I/O (linking spec §4–§8, 2026 addendum §A–§C): QR refs and
/// their rotation, `companion_reg_refresh`, the pairing-code exchange, pair-success, the 515 restart, the
/// login and the post-login iqs, keepalive, and exactly one terminal event.
///
/// Feed it ``LinkInput``s with the time they happened; it returns the ``LinkAction``s to carry out.
struct LinkStateMachine: Sendable {
    enum Phase: Sendable, Hashable {
        case idle
        /// The registration connection is being opened.
        case registering
        /// The registration connection is up: refs, scans, pairing codes.
        case registered
        /// pair-success accepted; waiting for the 515 and the close.
        case restarting
        /// The login connection is being opened.
        case loggingIn
        /// The login connection is up; waiting for `<success>`.
        case awaitingSuccess
        /// `<success>` arrived; the post-login iqs are running.
        case postLogin
        case finished
    }

    /// What an iq we sent was for.
    enum PendingIQ: Sendable, Hashable {
        case companionHello, companionFinish, ping, preKeyCount, preKeyUpload, passive
    }

    /// The pairing code of this session (at most one is live, 2026 §C.3).
    struct CodeSession: Sendable {
        enum Stage: Sendable { case requested, live, stage2 }
        var phone: PhoneNumber
        var code: PairingCode
        var ephemeral: KeyPair
        var showPushNotification: Bool
        var stage: Stage
        var helloID: String
        var ref: [UInt8] = []
        var primaryHellos = 0
    }

    /// What pair-success told us, once verified.
    struct PairedIdentity: Sendable {
        var jid: JID
        var lid: JID?
        var platform: String?
        var businessName: String?
        var clientProps: [UInt8]?
        var signedDeviceIdentity: [UInt8]
        var primaryIdentityKey: [UInt8]
        var keyIndex: UInt32
    }

    // MARK: State

    let configuration: LinkConfiguration
    let random: any LinkRandom
    let logger: Logger

    var phase = Phase.idle
    /// The credentials, with the adv secret kept current.
    var credentials: DeviceCredentials
    var advSecret: AdvSecretState

    var connectionID = 0
    var connectionOpen = false

    // QR
    var refs: [String] = []
    var refIndex = 0
    var refStartedAt: Duration = .zero
    var refLifetime: Duration = .zero
    var qrShowing = false
    var qrExhausted = false
    var qrSequence = 0
    /// The QR string last emitted, while it is current.
    var currentQR: String?
    var pairDeviceReceived = false

    // Pairing code
    var code: CodeSession?
    /// Requests waiting for readiness or the server's answer: request id → phone.
    var codeWaiters: [(id: Int, phone: PhoneNumber, showPush: Bool)] = []

    var passkeyActive = false
    var identity: PairedIdentity?
    var preKeys: [PreKey] = []
    /// When `<success>` arrived.
    var pairedAt: Date?

    // iqs and timers
    var iqPrefix: String
    var iqCounter = 0
    var pendingIQs: [String: PendingIQ] = [:]
    var timerGenerations: [LinkTimer.Kind: Int] = [:]
    var timerCounter = 0

    // Keepalive
    var awaitingPong = false
    var receivedSincePing = false
    var missedPings = 0

    init(
        credentials: DeviceCredentials, configuration: LinkConfiguration, random: any LinkRandom, logger: Logger
    )
        throws(AdvSecretError)
    {
        self.credentials = credentials
        self.configuration = configuration
        self.random = random
        self.logger = logger
        advSecret = try AdvSecretState(initial: credentials.advSecretKey)
        let prefix = random.bytes(2)
        iqPrefix = "\(prefix[0]).\(prefix[1])-"
    }

    // MARK: Entry point

    mutating func handle(_ input: LinkInput, at now: LinkTime) -> [LinkAction] {
        guard phase != .finished else {
            // Late inputs after the end; only requests still need an answer.
            if case .requestPairingCode(let id, _, _) = input {
                return [.answerCodeRequest(id, .failure(LinkError(.sessionEnded)))]
            }
            return []
        }
        switch input {
        case .start:
            guard phase == .idle else { return [] }
            phase = .registering
            return [
                .connect(
                    nextConnectionID(),
                    payload: ClientPayloadBuilder.registration(
                        credentials: credentials, profile: configuration.clientProfile))
            ]
        case .connectionOpened(let id):
            guard id == connectionID else { return [] }
            return connectionOpened(now)
        case .connectionFailed(let id, let error):
            guard id == connectionID else { return [] }
            connectionOpen = false
            return finish(.failed(Self.failure(for: error)))
        case .connectionClosed(let id, let error):
            guard id == connectionID else { return [] }
            return connectionClosed(error, now)
        case .received(let id, let node):
            guard id == connectionID, connectionOpen else { return [] }
            receivedSincePing = true
            return received(node, now)
        case .timerFired(let timer):
            guard timerGenerations[timer.kind] == timer.generation else { return [] }
            timerGenerations[timer.kind] = nil
            return timerFired(timer.kind, now)
        case .requestPairingCode(let id, let phone, let showPush):
            return requestPairingCode(id: id, phone: phone, showPush: showPush, now)
        case .abandonPairingCodeRequest(let id):
            codeWaiters.removeAll { $0.id == id }
            return [.cancelTimer(.codeRequest(id))]
        case .cancel:
            var actions = answerAllWaiters(LinkError(.cancelled))
            actions += endRun()
            return actions
        }
    }

    // MARK: Connections

    private mutating func nextConnectionID() -> Int {
        connectionID += 1
        connectionOpen = false
        return connectionID
    }

    private mutating func connectionOpened(_ now: LinkTime) -> [LinkAction] {
        connectionOpen = true
        missedPings = 0
        awaitingPong = false
        var actions = [startTimer(.keepAlive, after: random.duration(in: configuration.keepAliveInterval))]
        switch phase {
        case .registering:
            phase = .registered
            logger.debug("registration connection up")
            actions.append(startTimer(.pairDevice, after: configuration.pairDeviceTimeout))
        case .loggingIn:
            phase = .awaitingSuccess
            logger.debug("login connection up")
        default:
            break
        }
        return actions
    }

    private mutating func connectionClosed(_ error: WhatsAppConnectionError?, _ now: LinkTime) -> [LinkAction] {
        let wasOpen = connectionOpen
        connectionOpen = false
        switch phase {
        case .restarting:
            // The expected close after 515 (or our own after the restart timeout): log in on a new connection.
            return [cancel(.restart), cancel(.keepAlive)] + openLoginConnection()
        case .postLogin:
            // <success> arrived: the login worked even if the connection dropped before the follow-up iqs.
            return finish(.paired(pairedDevice(now)))
        case .registering, .loggingIn:
            // A close before the handshake finished is reported by connectionFailed; be safe anyway.
            return finish(.failed(LinkFailure(.connectionLost, "connection closed during the handshake")))
        default:
            if lastRefIsRunningOut(now) {
                // WhatsApp closes the socket once its last code is done (spec §4.4), which races with our
                // own rotation timer: this is the end of the codes, not a failure.
                return finish(.timeout)
            }
            let detail = error.map { "\($0.code)" } ?? (wasOpen ? "closed by the server" : "closed")
            return finish(.failed(LinkFailure(.connectionLost, "connection lost: \(detail)")))
        }
    }

    /// Whether the QR codes were about to run out anyway (nothing else, such as a pairing code or a
    /// passkey wait, needing the connection): the server's clock runs a little ahead of ours, so
    /// its close may come while we still show the last ref, or even the one before.
    private func lastRefIsRunningOut(_ now: LinkTime) -> Bool {
        guard isRegistered, qrShowing, !refs.isEmpty, code == nil, codeWaiters.isEmpty, !passkeyActive else { return false }
        let laterRefs = Int64(max(0, refs.count - 1 - refIndex))
        let remaining = refStartedAt + refLifetime - now.elapsed + configuration.nextQRLifetime * laterRefs
        let total = configuration.firstQRLifetime + configuration.nextQRLifetime * Int64(refs.count - 1)
        return remaining <= max(.seconds(2), total / 10)
    }

    private mutating func openLoginConnection() -> [LinkAction] {
        guard let identity, let username = UInt64(identity.jid.user) else {
            return finish(.failed(LinkFailure(.serverError, "paired JID has no numeric user")))
        }
        phase = .loggingIn
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
            logger.debug("server ended the stream")
            return []
        default:
            logger.debug("ignoring stanza", metadata: ["tag": "\(node.tag)"])
            return []
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
        logger.debug("ignoring iq", metadata: ["type": "\(type ?? "")", "id": "\(node["id"] ?? "")"])
        return []
    }

    private mutating func iqAnswered(
        _ purpose: PendingIQ, node: BinaryNode?, isError: Bool, _ now: LinkTime
    )
        -> [LinkAction]
    {
        switch purpose {
        case .ping:
            awaitingPong = false
            missedPings = 0
            return []
        case .companionHello:
            return companionHelloAnswered(node: node, isError: isError, now)
        case .companionFinish:
            return companionFinishAnswered(node: node, isError: isError, now)
        case .preKeyCount, .preKeyUpload, .passive:
            return postLoginStep(purpose, node: node, isError: isError, now)
        }
    }

    private mutating func receivedNotification(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        // The ack goes first, as whatsmeow sends it (code-conn1: ack, then companion_finish); it carries
        // nothing that depends on the handling.
        var actions: [LinkAction] = Stanzas.ack(for: node).map { [.send($0)] } ?? []
        switch node["type"] {
        case "companion_reg_refresh":
            actions += receivedRegRefresh(node, now)
        case "link_code_companion_reg":
            actions += receivedLinkCodeNotification(node, now)
        case "passkey_prologue_request":
            actions += receivedPasskeyRequest(node, now)
        default:
            logger.debug("notification", metadata: ["type": "\(node["type"] ?? "")"])
        }
        return actions
    }

    private mutating func receivedStreamError(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        let code = node["code"].flatMap { Int($0) }
        if code == 515, phase == .restarting {
            logger.debug("restart required; closing to log in")
            return [.close]
        }
        var detail = "stream error \(node["code"] ?? "without code")"
        if let conflict = node.child(named: "conflict") { detail += ", conflict \(conflict["type"] ?? "")" }
        switch phase {
        case .awaitingSuccess, .postLogin:
            return finish(.failed(LinkFailure(.loginFailed, detail, serverCode: code)))
        default:
            return finish(.failed(LinkFailure(.serverError, detail, serverCode: code)))
        }
    }

    private mutating func receivedPasskeyRequest(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard phase == .registered, identity == nil, Stanzas.isFromServer(node), !passkeyActive else { return [] }
        passkeyActive = true
        logger.info("server requested passkey verification; assertions are not supported, keeping the connection up")
        return [.emit(.awaitingPasskey), startTimer(.passkey, after: configuration.passkeyTimeout)]
    }

    // MARK: Timers

    private mutating func timerFired(_ kind: LinkTimer.Kind, _ now: LinkTime) -> [LinkAction] {
        switch kind {
        case .qrRotation: return nextRef(now)
        case .pairDevice:
            guard phase == .registered, !pairDeviceReceived else { return [] }
            return finish(.failed(LinkFailure(.timeout, "no pair-device from the server")))
        case .pairingCode: return pairingCodeExpired(now)
        case .pairingCodeStage2: return pairingCodeStage2Expired(now)
        case .codeRequest(let id):
            guard codeWaiters.contains(where: { $0.id == id }) else { return [] }
            codeWaiters.removeAll { $0.id == id }
            return [.answerCodeRequest(id, .failure(LinkError(.timeout)))]
        case .iq(let id):
            guard let purpose = pendingIQs.removeValue(forKey: id) else { return [] }
            logger.debug("iq timed out", metadata: ["id": "\(id)"])
            return iqAnswered(purpose, node: nil, isError: true, now)
        case .keepAlive: return keepAlive(now)
        case .restart:
            guard phase == .restarting else { return [] }
            logger.debug("no restart from the server in time; closing to log in")
            return [.close]
        case .login:
            guard phase == .loggingIn || phase == .awaitingSuccess else { return [] }
            return finish(.failed(LinkFailure(.timeout, "no <success> after logging in")))
        case .postLogin:
            guard phase == .postLogin else { return [] }
            return finish(.paired(pairedDevice(now)))
        case .passkey:
            passkeyActive = false
            return endIfNothingOutstanding()
        }
    }

    private mutating func keepAlive(_ now: LinkTime) -> [LinkAction] {
        guard connectionOpen else { return [] }
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

    /// Ends the run with `event` (one terminal event): answers waiting requests, closes, stops.
    mutating func finish(_ event: LinkEvent) -> [LinkAction] {
        precondition(event.isTerminal)
        switch event {
        case .failed(let failure): logger.info("linking failed", metadata: ["reason": "\(failure.code)"])
        case .timeout: logger.info("linking timed out")
        case .paired: logger.info("linking complete")
        default: break
        }
        var actions = answerAllWaiters(LinkError(identity == nil ? .sessionEnded : .alreadyPaired))
        actions.append(.emit(event))
        actions += endRun()
        return actions
    }

    /// Stops without an event: cancels timers, closes the connection, finishes.
    mutating func endRun() -> [LinkAction] {
        var actions = timerGenerations.keys.map { LinkAction.cancelTimer($0) }
        timerGenerations.removeAll()
        if connectionOpen || phase == .registering || phase == .loggingIn { actions.append(.close) }
        connectionOpen = false
        phase = .finished
        currentQR = nil
        code = nil
        pendingIQs.removeAll()
        actions.append(.finish)
        return actions
    }

    mutating func answerAllWaiters(_ error: LinkError) -> [LinkAction] {
        let actions = codeWaiters.map { LinkAction.answerCodeRequest($0.id, .failure(error)) }
        codeWaiters.removeAll()
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

// MARK: - Access for the extensions in other files

extension LinkStateMachine {
    var isRegistered: Bool { phase == .registered && identity == nil }
}
