import Foundation
import Testing
import WhatsAppProtocol

@testable import WhatsAppSimulator

enum LoopbackError: Error { case nothingReceived }

/// The simulator's state machines wired to a protocol-core companion without any network: every stanza
/// goes through the real bytes (Noise transport, frames, binary XML) in both directions. It plays the I/O
/// shell the way `ConnectionHandler` does: actions are applied in order, code requests are answered with
/// `refusal`, pairing records are kept.
struct Loopback {
    var server: ServerTransport
    var session: ServerSession
    var codec: CompanionCodec
    var companion: CompanionLogic
    /// Stanzas the companion received and has not taken yet.
    var inbox: [BinaryNode] = []
    var closed = false
    var results: [ServerSession.OperationResult] = []
    var registered: CompanionRegistration?
    var codeRequests: [CodeRequest] = []
    var acceptedCodePhones: [String] = []
    var logins: [String] = []
    var refsExpiry: Duration?
    /// How long the server would wait for the companion to close (after the 515).
    var clientCloseBound: Duration?
    /// How `companion_hello` is answered.
    var refusal: CompanionHelloRefusal?
    var nextID = 0

    static let root = KeyPair.generate()
    static let serverStatic = KeyPair.generate()
    static let chain = try! ServerCertificateChainBuilder.build(
        rootKeyPair: root, serverStaticPublicKey: serverStatic.publicKey, validFrom: Date().addingTimeInterval(-60),
        validUntil: Date().addingTimeInterval(3600))
    static let wrongChain = try! ServerCertificateChainBuilder.build(
        rootKeyPair: .generate(), serverStaticPublicKey: serverStatic.publicKey,
        validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(3600))

    init(
        settings: ServerSession.Settings = .init(refsCount: 6), companion: CompanionLogic = CompanionLogic(),
        chain: [UInt8] = Loopback.chain
    ) {
        server = ServerTransport(
            staticKey: Self.serverStatic, ephemeralKey: .generate(), certificateChain: chain,
            maximumFrameLength: 1 << 20)
        session = ServerSession(settings: settings)
        codec = CompanionCodec(noiseKey: companion.credentials.noiseKey, rootPublicKey: Self.root.publicKey)
        self.companion = companion
    }

    /// Runs the Noise handshake carrying `payload` and lets the session start (registration or login,
    /// with `known` as the recorded device for a login).
    mutating func connect(payload: [UInt8], known: PairingRecord? = nil, now: Date = Date()) throws {
        let helloEvents = try server.receive(try codec.clientHello())
        guard case .send(let serverHello) = helloEvents.first, helloEvents.count == 1 else {
            throw CompanionCodec.Failure.notReady
        }
        let frames = try codec.frames(serverHello)
        let finish = try codec.clientFinish(serverHello: frames[0], payload: payload, now: now)
        let events = try server.receive(finish)
        guard case .handshakeComplete(let peer) = events.first else { throw CompanionCodec.Failure.notReady }
        switch try ClientPayloadSummary.parse(peer.payload, noiseKey: peer.staticKey) {
        case .registration(let registration):
            apply(session.startRegistration(registration))
        case .login(let username, let device):
            apply(session.startLogin(username: username, device: device, noiseKey: peer.staticKey, known: known, now: now))
        }
    }

    /// The companion sends `node`.
    mutating func send(_ node: BinaryNode) throws {
        let bytes = try codec.seal(node)
        for event in try server.receive(bytes) {
            switch event {
            case .node(let received): apply(session.receive(received, now: Date()))
            case .send, .handshakeComplete: throw CompanionCodec.Failure.notReady
            }
        }
    }

    /// Takes the oldest stanza the companion received.
    mutating func next() -> BinaryNode? {
        inbox.isEmpty ? nil : inbox.removeFirst()
    }

    /// Takes the oldest stanza the companion received, failing if there is none.
    mutating func take() throws -> BinaryNode {
        guard !inbox.isEmpty else { throw LoopbackError.nothingReceived }
        return inbox.removeFirst()
    }

    mutating func makeID() -> String {
        nextID += 1
        return "c.\(nextID)"
    }

    /// Applies the session's actions like the I/O shell.
    mutating func apply(_ actions: [ServerSession.Action]) {
        for action in actions {
            switch action {
            case .send(let node):
                precondition(!closed, "sent after close")
                let bytes = try! server.seal(node)
                inbox += try! codec.open(bytes)
            case .close:
                closed = true
            case .awaitClientClose(let bound):
                clientCloseBound = bound
            case .registered(let registration):
                registered = registration
            case .scheduleRefsExpiry(let duration):
                refsExpiry = duration
            case .codeRequested(let request):
                codeRequests.append(request)
                apply(session.answerCodeRequest(refusal: refusal))
            case .codeRequestAccepted(let phone):
                acceptedCodePhones.append(phone)
            case .loggedIn(let jid):
                logins.append(jid)
            case .preKeysUploaded, .keepaliveAnswered:
                break
            case .operationFinished(let result):
                results.append(result)
            }
        }
    }

    // MARK: - Phone

    static let phone = PhoneIdentity(
        number: "15550001111", identity: .generate(), platform: "android", businessName: nil, lid: "99887766",
        rawID: 4242)

    mutating func scan(
        _ qr: String, phone: PhoneIdentity = Loopback.phone, assignment: DeviceAssignment = .init(device: 3, keyIndex: 7),
        faults: ActionFaults = .init()
    ) {
        let parsed = try! PairingQR.parse(qr).qr
        apply(session.scan(ScanRequest(qr: parsed, phone: phone, assignment: assignment, faults: faults), now: Date()))
    }

    mutating func enterCode(
        _ code: PairingCode, phone: PhoneIdentity = Loopback.phone,
        assignment: DeviceAssignment = .init(device: 4, keyIndex: 9), faults: ActionFaults = .init()
    ) throws {
        let request = try #require(codeRequests.last)
        let primaryEphemeral = KeyPair.generate()
        let entry = CodeEntry(
            phone: phone, assignment: assignment, faults: faults, primaryEphemeral: primaryEphemeral,
            wrappedPrimaryEphemeral: try PairingCodeCrypto.wrapEphemeralKey(
                primaryEphemeral.publicKey, code: code, salt: companion.random(32), iv: companion.random(16)),
            companionEphemeral: try PairingCodeCrypto.unwrapEphemeralKey(request.wrappedCompanionEphemeral, code: code))
        apply(session.enterCode(entry, now: Date()))
    }
}
