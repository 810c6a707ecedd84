import Foundation
import SwiftProtobuf
import WhatsAppProtocol

/// The stanza-level server of one connection, without I/O: what the server sends after the handshake,
/// how it answers the companion's stanzas, and the phone's side of pairing (scan, code entry,
/// pair-success, `pair-device-sign`, 515, after which the companion closes).
///
/// The I/O shell feeds it events (``receive(_:now:)``, the phone actions, timers) and carries out the
/// returned ``Action``s in order. Lookups in shared state (paired devices, faults) are the shell's job:
/// the session asks through actions (``Action/codeRequested(_:)``) or gets the answers as arguments.
struct ServerSession: Sendable {
    struct Settings: Sendable, Hashable {
        var refsCount = 6
        var firstRefLifetime: Duration = .seconds(60)
        var laterRefLifetime: Duration = .seconds(20)
        var closeWhenRefsExpire = true
        var initialPreKeyCount = 0
        /// How long the companion has to close the socket after the 515.
        var restartCloseTimeout: Duration = .seconds(10)

        var refsWindow: Duration {
            firstRefLifetime + laterRefLifetime * (refsCount - 1)
        }
    }

    enum Action: Sendable, Equatable {
        /// Send this stanza.
        case send(BinaryNode)
        /// Close the connection once the other actions of the same batch are carried out.
        case close
        /// The companion is to close the connection now (after the 515); close it after this long if it
        /// has not.
        case awaitClientClose(within: Duration)
        /// This is a registration connection of `companion` (the phone can now find it by its QR).
        case registered(CompanionRegistration)
        /// Call ``refsExpired()`` after this long.
        case scheduleRefsExpiry(Duration)
        /// A valid `companion_hello` arrived: decide on refusal faults, then call
        /// ``answerCodeRequest(refusal:)``; the request is pending for its phone number once accepted.
        case codeRequested(CodeRequest)
        /// The pending code request was accepted (answered with its ref) and may be looked up by number.
        case codeRequestAccepted(phoneNumber: String)
        /// The login as `jid` succeeded (`<success>` sent).
        case loggedIn(jid: String)
        /// The companion reported `count` uploaded prekeys.
        case preKeysUploaded(Int)
        /// A keepalive ping was answered (by the `send` before this action).
        case keepaliveAnswered
        /// The running phone action ended.
        case operationFinished(OperationResult)
    }

    /// The end of a phone action; a pairing carries the record to keep.
    enum OperationResult: Sendable, Equatable {
        case paired(PairingRecord)
        case outcome(PhoneOutcome)
        case failed(SimulatorError)
    }

    private enum Mode: Sendable {
        case awaitingPayload
        case registration(Registration)
        case login(jid: String)
        case closed
    }

    private struct Registration: Sendable {
        let companion: CompanionRegistration
        let refs: [String]
        let pairDeviceID: String
        var refsLive = true
        var codeRequest: CodeRequest?
        var codeRequestAccepted = false
        var codeRef: String?
        var operation: Operation?
        var paired = false
    }

    private enum Operation: Sendable {
        case awaitingAck(notificationID: String, outcome: PhoneOutcome)
        case awaitingCompanionFinish(notificationID: String, entry: CodeEntry)
        case awaitingPairDeviceSign(iqID: String, pairing: Pairing)
    }

    private struct Pairing: Sendable {
        let phone: PhoneIdentity
        let assignment: DeviceAssignment
        let method: PairingMethod
    }

    private let settings: Settings
    private var mode = Mode.awaitingPayload
    private var nextID: UInt32
    private var preKeyCount: Int

    init(settings: Settings) {
        self.settings = settings
        nextID = UInt32.random(in: 1_000...UInt32.max / 2)
        preKeyCount = settings.initialPreKeyCount
    }

    /// The registered companion, on a registration connection.
    var companion: CompanionRegistration? {
        if case .registration(let registration) = mode { registration.companion } else { nil }
    }

    /// The refs sent in `pair-device`, on a registration connection.
    var refs: [String] {
        if case .registration(let registration) = mode { registration.refs } else { [] }
    }

    /// True while a phone action is running.
    var hasOperation: Bool {
        if case .registration(let registration) = mode { registration.operation != nil } else { false }
    }

    // MARK: - After the handshake

    /// The companion registers: send `pair-device` with fresh refs and start the refs' clock.
    mutating func startRegistration(_ companion: CompanionRegistration) -> [Action] {
        guard case .awaitingPayload = mode else { return [] }
        let refs = (0..<settings.refsCount).map { _ in ServerRandom.ref() }
        let id = makeID()
        mode = .registration(Registration(companion: companion, refs: refs, pairDeviceID: id))
        return [
            .registered(companion),
            .send(ServerStanzas.pairDevice(id: id, refs: refs)),
            .scheduleRefsExpiry(settings.refsWindow),
        ]
    }

    /// The companion logs in as `username:device`; `known` is the device paired earlier under that JID
    /// (nil if none). The Noise key must be the one recorded at pairing.
    mutating func startLogin(
        username: String, device: UInt16, noiseKey: [UInt8], known: PairingRecord?, now: Date
    ) -> [Action] {
        guard case .awaitingPayload = mode else { return [] }
        guard let known, known.noiseKey == noiseKey, let lid = JID(known.device.lid) else {
            mode = .closed
            return [.send(ServerStanzas.failure(reason: 401)), .close]
        }
        mode = .login(jid: known.device.jid)
        return [
            .send(ServerStanzas.success(t: now, lid: lid, creation: known.device.pairedAt)),
            .loggedIn(jid: known.device.jid),
        ]
    }

    /// The ClientPayload was unacceptable: `<failure reason=…>` and close.
    mutating func rejectPayload(reason: Int = 400) -> [Action] {
        mode = .closed
        return [.send(ServerStanzas.failure(reason: reason)), .close]
    }

    // MARK: - Client stanzas

    /// One stanza from the companion.
    mutating func receive(_ node: BinaryNode, now: Date) -> [Action] {
        switch node.tag {
        case "iq": return receiveIQ(node, now: now)
        case "ack": return receiveAck(node)
        default: return []  // <ib>, receipts, presence...: nothing to answer
        }
    }

    private mutating func receiveIQ(_ node: BinaryNode, now: Date) -> [Action] {
        guard let id = node["id"] else { return [] }
        switch node["type"] {
        case "result", "error":
            return receiveReply(node, id: id, now: now)
        case "get", "set":
            return receiveRequest(node, id: id, now: now)
        default:
            return [.send(ServerStanzas.error(id: id, code: 400, text: "bad-request"))]
        }
    }

    private mutating func receiveRequest(_ node: BinaryNode, id: String, now: Date) -> [Action] {
        let xmlns = node["xmlns"]
        if xmlns == "md", let reg = node.child(named: "link_code_companion_reg") {
            switch reg["stage"] {
            case "companion_hello": return companionHello(reg, id: id)
            case "companion_finish": return companionFinish(reg, id: id, now: now)
            default: return [.send(ServerStanzas.error(id: id, code: 400, text: "bad-request"))]
            }
        }
        if xmlns == "encrypt" {
            if node.child(named: "count") != nil {
                return [.send(ServerStanzas.preKeyCount(id: id, count: preKeyCount))]
            }
            if node["type"] == "set", let list = node.child(named: "list") {
                preKeyCount += list.children(named: "key").count
                return [.send(ServerStanzas.result(id: id)), .preKeysUploaded(preKeyCount)]
            }
        }
        if xmlns == "md", node["type"] == "get", node.child(named: "ref") != nil, case .registration = mode {
            return [.send(ServerStanzas.result(id: id, [BinaryNode("ref", [:], .bytes(Array(ServerRandom.ref().utf8)))]))]
        }
        // Keepalive (w:p), passive, digest, unified session and anything else: a plain result, so the
        // companion never waits for a timeout. Keepalives are recorded, for tests of the companion's
        // liveness.
        if xmlns == "w:p" { return [.send(ServerStanzas.result(id: id)), .keepaliveAnswered] }
        return [.send(ServerStanzas.result(id: id))]
    }

    private mutating func receiveReply(_ node: BinaryNode, id: String, now: Date) -> [Action] {
        guard case .registration(var registration) = mode else { return [] }
        defer { mode = .registration(registration) }
        if id == registration.pairDeviceID { return [] }  // the companion's ack of pair-device
        guard case .awaitingPairDeviceSign(let iqID, let pairing) = registration.operation, iqID == id else {
            return []
        }
        registration.operation = nil
        if node["type"] == "error" {
            let error = node.child(named: "error")
            let detail = "\(error?["code"] ?? "?") \(error?["text"] ?? "?")"
            return [.operationFinished(.failed(SimulatorError(.companionRejected, detail: detail)))]
        }
        guard let sign = node.child(named: "pair-device-sign"),
            let identityNode = sign.child(named: "device-identity"),
            let identityBytes = identityNode.contentBytes
        else {
            return failPairing(&registration, SimulatorError(.invalidPairDeviceSign, detail: "missing device-identity"))
        }
        let keyIndex: UInt32
        do {
            keyIndex = try PairSuccessCrypto.verifyReply(
                identityBytes, companionIdentityPublicKey: registration.companion.identityKey,
                primaryIdentityPublicKey: pairing.phone.identity.publicKey)
        } catch {
            return failPairing(&registration, SimulatorError(.invalidPairDeviceSign, detail: "\(error.code)"))
        }
        guard keyIndex == pairing.assignment.keyIndex, identityNode["key-index"] == String(keyIndex) else {
            return failPairing(&registration, SimulatorError(.invalidPairDeviceSign, detail: "key-index"))
        }
        registration.paired = true
        registration.codeRequest = nil
        let record = PairingRecord(
            device: PairedDevice(
                phoneNumber: pairing.phone.number, deviceID: pairing.assignment.device,
                jid: Self.deviceJID(pairing).description, lid: Self.lidJID(pairing).description,
                companionName: registration.companion.osName, method: pairing.method, pairedAt: now,
                loginCount: 0, lastLoginAt: nil, isConnected: false),
            noiseKey: registration.companion.noiseKey, identityKey: registration.companion.identityKey)
        // The record first: the shell keeps it before the 515 makes the companion log in. The socket is the
        // companion's to close, as with WhatsApp: a server close racing the companion's reconnect made real
        // whatsmeow miss its login.
        return [
            .operationFinished(.paired(record)), .send(ServerStanzas.streamError(code: 515)),
            .awaitClientClose(within: settings.restartCloseTimeout),
        ]
    }

    /// A reply that fails the phone's checks ends the attempt; the server closes the connection, as the
    /// pairing cannot continue.
    private func failPairing(_ registration: inout Registration, _ error: SimulatorError) -> [Action] {
        [.operationFinished(.failed(error)), .close]
    }

    private mutating func receiveAck(_ node: BinaryNode) -> [Action] {
        guard case .registration(var registration) = mode, let id = node["id"] else { return [] }
        defer { mode = .registration(registration) }
        switch registration.operation {
        case .awaitingAck(let notificationID, let outcome) where notificationID == id:
            registration.operation = nil
            return [.operationFinished(.outcome(outcome))]
        default:
            return []
        }
    }

    // MARK: - Pairing code (spec §5.5-§5.7)

    private mutating func companionHello(_ reg: BinaryNode, id: String) -> [Action] {
        guard case .registration(var registration) = mode, !registration.paired else {
            return [.send(ServerStanzas.error(id: id, code: 400, text: "bad-request"))]
        }
        defer { mode = .registration(registration) }
        guard let request = Self.validCodeRequest(reg, id: id, companion: registration.companion) else {
            return [.send(ServerStanzas.error(id: id, code: 400, text: "bad-request"))]
        }
        // A new request replaces an older one of this connection (whatsmeow draws a fresh key each time).
        registration.codeRequest = request
        registration.codeRequestAccepted = false
        return [.codeRequested(request)]
    }

    /// Answers the `companion_hello` announced by ``Action/codeRequested(_:)``: with its ref, or with the
    /// refusal (which drops the request).
    mutating func answerCodeRequest(refusal: CompanionHelloRefusal?) -> [Action] {
        guard case .registration(var registration) = mode, let request = registration.codeRequest,
            !registration.codeRequestAccepted
        else { return [] }
        defer { mode = .registration(registration) }
        if let refusal {
            registration.codeRequest = nil
            return [
                .send(
                    ServerStanzas.error(
                        id: request.iqID, code: refusal.code, text: refusal.text, backoffSeconds: refusal.backoffSeconds))
            ]
        }
        let ref = ServerRandom.codeRef()
        registration.codeRef = ref
        registration.codeRequestAccepted = true
        return [
            .send(ServerStanzas.companionHelloResult(id: request.iqID, ref: ref)),
            .codeRequestAccepted(phoneNumber: request.phoneNumber),
        ]
    }

    /// The accepted code request of this connection, if any.
    var pendingCodeRequest: CodeRequest? {
        guard case .registration(let registration) = mode, registration.codeRequestAccepted, !registration.paired
        else { return nil }
        return registration.codeRequest
    }

    /// Checks `companion_hello` (spec §5.5, 2026 §C.2): a phone JID, an 80-byte wrapped key, this
    /// connection's Noise key, a platform id and a `Browser (OS)` display string.
    static func validCodeRequest(_ reg: BinaryNode, id: String, companion: CompanionRegistration) -> CodeRequest? {
        guard let jid = reg.jid("jid"), jid.server == JID.Server.whatsApp, jid.device == 0,
            let phone = try? PhoneNumber(validating: jid.user),
            let wrapped = reg.child(named: "link_code_pairing_wrapped_companion_ephemeral_pub")?.contentBytes,
            wrapped.count == PairingCodeCrypto.wrappedKeyLength,
            reg.child(named: "companion_server_auth_key_pub")?.contentBytes == companion.noiseKey,
            let platformID = reg.child(named: "companion_platform_id")?.contentString,
            isValidPlatformID(platformID),
            let display = reg.child(named: "companion_platform_display")?.contentString,
            isValidDisplay(display),
            reg.child(named: "link_code_pairing_nonce") != nil
        else { return nil }
        return CodeRequest(
            phoneNumber: phone.digits, wrappedCompanionEphemeral: wrapped, platformID: platformID,
            platformDisplay: display, iqID: id)
    }

    /// Companion platform ids: `0`-`9`, and whatsmeow's `c` (macOS) and `e` (Android).
    static func isValidPlatformID(_ id: String) -> Bool {
        id.count == 1 && "0123456789ce".contains(id)
    }

    /// `Browser (OS)` with a browser WhatsApp knows and an OS among `Windows`, `Mac OS`, `Linux`,
    /// `Android`, `iOS`.
    static func isValidDisplay(_ display: String) -> Bool {
        let browsers: Set<String> = ["Chrome", "Edge", "Firefox", "IE", "Opera", "Safari"]
        guard display.hasSuffix(")"), let open = display.firstIndex(of: "(") else { return false }
        let browser = display[..<open]
        guard browser.hasSuffix(" ") else { return false }
        let os = display[display.index(after: open)..<display.index(before: display.endIndex)]
        return browsers.contains(String(browser.dropLast())) && CompanionOS(rawValue: String(os)) != nil
    }

    private mutating func companionFinish(_ reg: BinaryNode, id: String, now: Date) -> [Action] {
        guard case .registration(var registration) = mode,
            case .awaitingCompanionFinish(_, let entry) = registration.operation,
            let codeRef = registration.codeRef
        else { return [.send(ServerStanzas.error(id: id, code: 400, text: "bad-request"))] }
        defer { mode = .registration(registration) }
        guard reg.child(named: "link_code_pairing_ref")?.contentBytes == Array(codeRef.utf8),
            let bundle = reg.child(named: "link_code_pairing_wrapped_key_bundle")?.contentBytes,
            let companionIdentity = reg.child(named: "companion_identity_public")?.contentBytes
        else { return [.send(ServerStanzas.error(id: id, code: 400, text: "bad-request"))] }

        registration.operation = nil
        var actions: [Action] = [.send(ServerStanzas.result(id: id))]
        let secret: (companionIdentity: [UInt8], advSecret: [UInt8])
        do throws(SimulatorError) {
            secret = try Self.primaryAdvSecret(entry: entry, wrappedKeyBundle: bundle)
        } catch {
            // A wrong code: the companion unwrapped a wrong key, so its bundle does not open here. The
            // request stays pending; the user may type the code again.
            actions.append(.operationFinished(.failed(error)))
            return actions
        }
        guard companionIdentity == registration.companion.identityKey,
            secret.companionIdentity == registration.companion.identityKey
        else {
            actions.append(
                .operationFinished(.failed(SimulatorError(.invalidCompanionFinish, detail: "companion identity"))))
            return actions
        }
        let pairing = Pairing(phone: entry.phone, assignment: entry.assignment, method: .code)
        if entry.faults.passkeyRequest {
            actions += sendNotificationAwaitingAck(&registration, outcome: .passkeyRequestSent, now: now)
            return actions
        }
        actions += sendPairSuccess(
            &registration, pairing: pairing, advSecret: secret.advSecret, fault: entry.faults.pairSuccess, now: now)
        return actions
    }

    /// The primary's half of §5.7, from the companion's ephemeral key unwrapped beforehand.
    private static func primaryAdvSecret(
        entry: CodeEntry, wrappedKeyBundle: [UInt8]
    ) throws(SimulatorError) -> (companionIdentity: [UInt8], advSecret: [UInt8]) {
        do {
            let ephemeralShared = try entry.primaryEphemeral.sharedSecret(with: entry.companionEphemeral)
            let bundle = try PairingCodeCrypto.openKeyBundle(wrappedKeyBundle, ephemeralShared: ephemeralShared)
            guard bundle.primaryIdentityPublicKey == entry.phone.identity.publicKey else {
                throw SimulatorError(.invalidCompanionFinish, detail: "primary identity")
            }
            let identityShared = try entry.phone.identity.sharedSecret(with: bundle.companionIdentityPublicKey)
            let secret = try PairingCodeCrypto.advSecret(
                ephemeralShared: ephemeralShared, identityShared: identityShared, advRandom: bundle.advRandom)
            return (bundle.companionIdentityPublicKey, secret)
        } catch let error as SimulatorError {
            throw error
        } catch let error as PairingCodeError where error.code == .bundleAuthenticationFailed {
            throw SimulatorError(.wrongCode)
        } catch {
            throw SimulatorError(.wrongCode, detail: "\(error)")
        }
    }

    // MARK: - Phone actions

    /// The phone scanned `request.qr`, which the shell found to carry this connection's Noise key.
    mutating func scan(_ request: ScanRequest, now: Date) -> [Action] {
        guard case .registration(var registration) = mode, !registration.paired else {
            return [.operationFinished(.failed(SimulatorError(.noSuchConnection)))]
        }
        defer { mode = .registration(registration) }
        guard registration.operation == nil else {
            return [.operationFinished(.failed(SimulatorError(.busy)))]
        }
        guard request.qr.identityPublicKey == registration.companion.identityKey,
            request.qr.noisePublicKey == registration.companion.noiseKey,
            registration.refs.contains(request.qr.ref)
        else { return [.operationFinished(.failed(SimulatorError(.qrMismatch)))] }
        guard registration.refsLive else {
            return [.operationFinished(.failed(SimulatorError(.refExpired)))]
        }
        if request.faults.dropAfterScan {
            mode = .closed
            return [.close, .operationFinished(.outcome(.connectionDropped))]
        }
        if request.faults.companionRegRefresh {
            return sendNotificationAwaitingAck(&registration, outcome: .companionRegRefreshSent, now: now)
        }
        if request.faults.passkeyRequest {
            return sendNotificationAwaitingAck(&registration, outcome: .passkeyRequestSent, now: now)
        }
        let pairing = Pairing(phone: request.phone, assignment: request.assignment, method: .qr)
        return sendPairSuccess(
            &registration, pairing: pairing, advSecret: request.qr.advSecret, fault: request.faults.pairSuccess,
            now: now)
    }

    /// The phone's user typed a code for this connection's pending request: send `primary_hello` and wait
    /// for the ack and `companion_finish`.
    mutating func enterCode(_ entry: CodeEntry, now: Date) -> [Action] {
        guard case .registration(var registration) = mode, !registration.paired,
            registration.codeRequestAccepted, let codeRef = registration.codeRef
        else { return [.operationFinished(.failed(SimulatorError(.noPendingCodeRequest)))] }
        defer { mode = .registration(registration) }
        guard registration.operation == nil else {
            return [.operationFinished(.failed(SimulatorError(.busy)))]
        }
        let id = makeID()
        registration.operation = .awaitingCompanionFinish(notificationID: id, entry: entry)
        return [
            .send(
                ServerStanzas.primaryHello(
                    id: id, t: now, wrappedPrimaryEphemeral: entry.wrappedPrimaryEphemeral,
                    primaryIdentity: entry.phone.identity.publicKey, ref: codeRef))
        ]
    }

    /// The running phone action ran out of time.
    mutating func operationTimedOut() -> [Action] {
        guard case .registration(var registration) = mode, registration.operation != nil else { return [] }
        registration.operation = nil
        mode = .registration(registration)
        return [.operationFinished(.failed(SimulatorError(.timeout)))]
    }

    /// The refs' window is over: later scans fail, and the connection closes unless a code is pending or
    /// an action runs (2026 §C.3, §B.7).
    mutating func refsExpired() -> [Action] {
        guard case .registration(var registration) = mode else { return [] }
        registration.refsLive = false
        mode = .registration(registration)
        if settings.closeWhenRefsExpire, !registration.codeRequestAccepted, registration.operation == nil,
            !registration.paired
        {
            mode = .closed
            return [.close]
        }
        return []
    }

    /// After a phone action ended: close if the refs ran out meanwhile and nothing else holds the connection.
    mutating func closeIfRefsExpired() -> [Action] {
        guard case .registration(let registration) = mode, !registration.refsLive, settings.closeWhenRefsExpire,
            !registration.codeRequestAccepted, registration.operation == nil, !registration.paired
        else { return [] }
        mode = .closed
        return [.close]
    }

    /// The connection is gone: the running action (if any) fails.
    mutating func connectionClosed() -> [Action] {
        defer { mode = .closed }
        guard case .registration(let registration) = mode, registration.operation != nil else { return [] }
        return [.operationFinished(.failed(SimulatorError(.connectionGone)))]
    }

    // MARK: - Helpers

    private mutating func sendNotificationAwaitingAck(
        _ registration: inout Registration, outcome: PhoneOutcome, now: Date
    ) -> [Action] {
        let id = makeID()
        let node =
            switch outcome {
            case .companionRegRefreshSent: ServerStanzas.companionRegRefresh(id: id, t: now)
            default: ServerStanzas.passkeyPrologueRequest(id: id, t: now, challenge: ServerRandom.bytes(32))
            }
        registration.operation = .awaitingAck(notificationID: id, outcome: outcome)
        return [.send(node)]
    }

    private mutating func sendPairSuccess(
        _ registration: inout Registration, pairing: Pairing, advSecret: [UInt8], fault: PairSuccessFault?, now: Date
    ) -> [Action] {
        let details = PairSuccessCrypto.DeviceDetails(
            rawID: pairing.phone.rawID, timestamp: UInt64(max(0, now.timeIntervalSince1970)),
            keyIndex: pairing.assignment.keyIndex)
        let coreFault: PairSuccessCrypto.Fault =
            switch fault {
            case .badHMAC: .badHMAC
            case .badAccountSignature: .badAccountSignature
            case nil: .none
            }
        let identity: [UInt8]
        do {
            identity = try PairSuccessCrypto.makeDeviceIdentity(
                details: details, primaryIdentity: pairing.phone.identity,
                companionIdentityPublicKey: registration.companion.identityKey, advSecret: advSecret,
                signatureRandom: ServerRandom.bytes(64), fault: coreFault)
        } catch {
            return [.operationFinished(.failed(SimulatorError(.invalidQR, detail: "\(error.code)")))]
        }
        let id = makeID()
        registration.operation = .awaitingPairDeviceSign(iqID: id, pairing: pairing)
        return [
            .send(
                ServerStanzas.pairSuccess(
                    id: id, t: now, deviceIdentity: identity, platform: pairing.phone.platform,
                    device: Self.deviceJID(pairing), lid: Self.lidJID(pairing),
                    businessName: pairing.phone.businessName, clientProps: Self.clientProps))
        ]
    }

    private static func deviceJID(_ pairing: Pairing) -> JID {
        JID(user: pairing.phone.number, device: pairing.assignment.device, server: JID.Server.whatsApp)
    }

    private static func lidJID(_ pairing: Pairing) -> JID {
        JID(user: pairing.phone.lid, device: pairing.assignment.device, server: JID.Server.lid)
    }

    /// `ClientPairingProps` as a current server sends it (2026 addendum §C, 2026-07-13).
    private static let clientProps: [UInt8] = {
        var props = WAClientPairingProps()
        props.isChatDbLidMigrated = true
        props.isSyncdPureLidSession = true
        return (try? props.serializedBytes()) ?? []
    }()

    private mutating func makeID() -> String {
        nextID &+= 1
        return String(nextID)
    }
}
