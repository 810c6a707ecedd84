import Foundation
import WhatsAppProtocol

/// Phone-number pairing (linking spec §5, 2026 addendum §C.3, §C.4): companion_hello, the code's lifetime,
/// primary_hello → companion_finish, refresh_code. A part of the registration phase.
extension LinkStateMachine {
    /// The pairing-code exchange of the registration: requests waiting for an answer and the session's code.
    struct PairingCodeExchange: Sendable {
        /// Requests waiting for `pair-device` or the server's answer to companion_hello; all for one number.
        var waiting: [PendingCodeRequest] = []
        /// At most one code is live per session (2026 §C.3).
        var code: CodeSession?

        /// No request waits and no code is outstanding.
        var isIdle: Bool { waiting.isEmpty && code == nil }
    }

    /// The pairing code of this session.
    struct CodeSession: Sendable {
        enum Stage: Sendable {
            /// companion_hello sent; the server has not answered.
            case requested
            /// The server accepted it under this ref: the user may type it.
            case live(ref: [UInt8])
            /// primary_hello answered with companion_finish: pair-success must follow.
            case finishing(ref: [UInt8])
        }

        var phone: PhoneNumber
        var code: PairingCode
        var ephemeral: KeyPair
        var stage = Stage.requested
        var primaryHellos = 0

        /// The server's ref for the code, once accepted.
        var ref: [UInt8]? {
            switch stage {
            case .requested: nil
            case .live(let ref), .finishing(let ref): ref
            }
        }
    }

    /// A request while registered: the live code, a wait for the server's answer, or a new companion_hello.
    mutating func requestPairingCode(
        _ request: PendingCodeRequest, _ registration: inout Registration, _ now: LinkTime
    ) -> RegistrationOutcome {
        if let code = registration.pairingCode.code {
            // Never a second live code (primary_hello is routed by number, §C.3).
            guard code.phone == request.phone else {
                return .stay([.answerCodeRequest(request.id, .failure(LinkError(.numberConflict)))])
            }
            guard case .requested = code.stage else {
                return .stay([.answerCodeRequest(request.id, .success(code.code))])
            }
            registration.pairingCode.waiting.append(request)
            return .stay([startTimer(.codeRequest(request.id), after: configuration.pairingCodeRequestTimeout)])
        }
        if let first = registration.pairingCode.waiting.first, first.phone != request.phone {
            return .stay([.answerCodeRequest(request.id, .failure(LinkError(.numberConflict)))])
        }
        registration.pairingCode.waiting.append(request)
        var actions = [startTimer(.codeRequest(request.id), after: configuration.pairingCodeRequestTimeout)]
        if case .awaitingPairDevice = registration.refs {
            // Sent once the refs are there.
        } else {
            actions += sendWaitingCodeRequest(&registration, now)
        }
        return .stay(actions)
    }

    /// Requests that wait with no code in the making: the first one's phone gets a code.
    mutating func sendWaitingCodeRequest(_ registration: inout Registration, _ now: LinkTime) -> [LinkAction] {
        guard registration.pairingCode.code == nil, let first = registration.pairingCode.waiting.first else { return [] }
        return sendCompanionHello(phone: first.phone, showPush: first.showPushNotification, &registration, now)
    }

    /// companion_hello with a fresh code and ephemeral key (§5.3–§5.5).
    private mutating func sendCompanionHello(
        phone: PhoneNumber, showPush: Bool, _ registration: inout Registration, _ now: LinkTime
    ) -> [LinkAction] {
        let pairingCode: PairingCode
        let ephemeral = random.keyPair()
        let wrapped: [UInt8]
        do {
            pairingCode = try PairingCode(randomBytes: random.bytes(PairingCode.randomByteCount))
            wrapped = try PairingCodeCrypto.wrapEphemeralKey(
                ephemeral.publicKey, code: pairingCode, salt: random.bytes(PairingCodeCrypto.saltLength),
                iv: random.bytes(PairingCodeCrypto.ivLength))
        } catch {
            // Only wrong lengths throw, and the lengths are the constants above.
            let waiting = registration.pairingCode.waiting
            registration.pairingCode.waiting = []
            return answer(waiting, .failure(LinkError(.rejected)))
        }
        let id = nextIQID()
        registration.pairingCode.code = CodeSession(phone: phone, code: pairingCode, ephemeral: ephemeral)
        let node = Stanzas.companionHello(
            id: id, phone: phone, showPushNotification: showPush, wrappedEphemeral: wrapped,
            noisePublicKey: credentials.noiseKey.publicKey, platformID: configuration.companionPlatform.id,
            platformDisplay: configuration.companionPlatformDisplay)
        return [.log(.companionHelloSent(iqID: id))] + sendIQ(node, id: id, purpose: .companionHello)
    }

    /// The server's answer to companion_hello: the code is live once it gives `link_code_pairing_ref`.
    mutating func companionHelloAnswered(
        node: BinaryNode?, isError: Bool, _ registration: inout Registration, _ now: LinkTime
    ) -> RegistrationOutcome {
        guard var session = registration.pairingCode.code, case .requested = session.stage else { return .stay([]) }
        let result: Result<PairingCode, LinkError>
        if let node, !isError {
            let ref = node.child(named: "link_code_companion_reg")?.child(named: "link_code_pairing_ref")?.contentBytes
            if let ref, !ref.isEmpty {
                session.stage = .live(ref: ref)
                registration.pairingCode.code = session
                result = .success(session.code)
            } else {
                registration.pairingCode.code = nil
                result = .failure(LinkError(.invalidResponse))
            }
        } else if let node {
            let error = Stanzas.IQError(node)
            registration.pairingCode.code = nil
            result = .failure(LinkError(iqErrorCode: error.code, text: error.text, backoffSeconds: error.backoffSeconds))
        } else {
            registration.pairingCode.code = nil
            result = .failure(LinkError(.timeout))
        }
        let phone = session.phone
        let answered = registration.pairingCode.waiting.filter { $0.phone == phone }
        registration.pairingCode.waiting.removeAll { $0.phone == phone }
        var actions = answer(answered, result)
        switch result {
        case .success:
            actions.append(startTimer(.pairingCode, after: configuration.pairingCodeLifetime))
        case .failure(let error):
            actions.append(.log(.pairingCodeRefused(error)))
            // Requests for another number may now go ahead.
            actions += sendWaitingCodeRequest(&registration, now)
        }
        return .stay(actions)
    }

    /// `notification type=link_code_companion_reg`: dispatched on the child's `stage` (§C, 2026-05-30).
    mutating func receivedLinkCodeNotification(
        _ node: BinaryNode, _ registration: inout Registration, _ now: LinkTime
    ) -> RegistrationOutcome {
        guard let body = node.child(named: "link_code_companion_reg") else { return .stay([]) }
        switch body["stage"] {
        case "refresh_code":
            return refreshCode(body, &registration, now)
        default:
            guard body.child(named: "link_code_pairing_wrapped_primary_ephemeral_pub") != nil else {
                // No stage-2 data (e.g. a passkey precursor): not a failure (2026 §B.3).
                return .stay([.log(.linkCodeNotificationWithoutPrimaryHello)])
            }
            return .stay(primaryHello(body, &registration, now))
        }
    }

    /// primary_hello: the user typed the code; unwrap, derive the new adv secret, send companion_finish (§5.7).
    private mutating func primaryHello(_ body: BinaryNode, _ registration: inout Registration, _ now: LinkTime) -> [LinkAction] {
        guard var session = registration.pairingCode.code, let ref = session.ref else {
            return [.log(.primaryHelloWithoutCode)]
        }
        guard body.child(named: "link_code_pairing_ref")?.contentBytes == ref else {
            return [.log(.primaryHelloForAnotherRef)]
        }
        guard session.primaryHellos < configuration.maximumPrimaryHellos else {
            return [.log(.tooManyPrimaryHellos)]
        }
        guard let wrapped = body.child(named: "link_code_pairing_wrapped_primary_ephemeral_pub")?.contentBytes,
            let primaryIdentity = body.child(named: "primary_identity_pub")?.contentBytes
        else { return [] }
        let finish: PairingCodeCrypto.CompanionFinish
        do {
            finish = try PairingCodeCrypto.companionFinish(
                code: session.code, companionEphemeral: session.ephemeral, companionIdentity: credentials.identityKey,
                wrappedPrimaryEphemeral: wrapped, primaryIdentityPublicKey: primaryIdentity,
                randomness: PairingCodeCrypto.FinishRandomness(
                    advRandom: random.bytes(PairingCodeCrypto.advRandomLength),
                    bundleSalt: random.bytes(PairingCodeCrypto.saltLength),
                    bundleNonce: random.bytes(PairingCodeCrypto.bundleNonceLength)))
            try advSecret.adoptPairCodeSecret(finish.advSecret)
        } catch {
            return [.log(.primaryHelloUnusable(error: Self.errorCode(error)))]
        }
        credentials.advSecretKey = finish.advSecret
        session.primaryHellos += 1
        session.stage = .finishing(ref: ref)
        registration.pairingCode.code = session
        let id = nextIQID()
        return [.log(.companionFinishSent(iqID: id))]
            + sendIQ(
                Stanzas.companionFinish(
                    id: id, phone: session.phone, wrappedKeyBundle: finish.wrappedKeyBundle,
                    identityPublicKey: credentials.identityKey.publicKey, ref: ref),
                id: id, purpose: .companionFinish)
            + [startTimer(.pairingCodeStage2, after: configuration.pairingCodeStage2Timeout)]
    }

    /// The code of a crypto error, for a log line (the errors carry no key material, but their code is all
    /// an operator needs).
    private static func errorCode(_ error: any Error) -> String {
        switch error {
        case let error as PairingCodeError: "\(error.code)"
        case let error as AdvSecretError: "\(error.code)"
        default: "\(type(of: error))"
        }
    }

    /// The companion_finish answer must be read; a refusal retires the code (§C.4).
    mutating func companionFinishAnswered(
        node: BinaryNode?, isError: Bool, _ registration: inout Registration, _ now: LinkTime
    ) -> RegistrationOutcome {
        guard isError else { return .stay([]) }
        let error = node.map(Stanzas.IQError.init)
        return .stay([.log(.companionFinishRefused(serverCode: error?.code))] + retireCode(&registration, now))
    }

    /// refresh_code: honoured only for the outstanding code's ref (§C.3); the code dies.
    private mutating func refreshCode(_ body: BinaryNode, _ registration: inout Registration, _ now: LinkTime) -> RegistrationOutcome {
        guard let ref = registration.pairingCode.code?.ref, body.child(named: "link_code_pairing_ref")?.contentBytes == ref else {
            return .stay([.log(.refreshCodeIgnored)])
        }
        return .stay([.log(.refreshCode(forceManual: body["force_manual_refresh"] == "true"))] + retireCode(&registration, now))
    }

    mutating func pairingCodeExpired(_ registration: inout Registration, _ now: LinkTime) -> RegistrationOutcome {
        // A stage-2 exchange in flight has its own deadline.
        guard case .live = registration.pairingCode.code?.stage else { return .stay([]) }
        return .stay([.log(.pairingCodeExpired)] + retireCode(&registration, now))
    }

    mutating func pairingCodeStage2Expired(_ registration: inout Registration, _ now: LinkTime) -> RegistrationOutcome {
        guard case .finishing = registration.pairingCode.code?.stage else { return .stay([]) }
        return .stay([.log(.pairingCodeStage2TimedOut)] + retireCode(&registration, now))
    }

    /// The code is dead: a stage-2 secret is replaced by a fresh random one (and the QR re-rendered with it),
    /// and the worker is told. Whether the run goes on is for `settle` to decide.
    private mutating func retireCode(_ registration: inout Registration, _ now: LinkTime) -> [LinkAction] {
        guard let session = registration.pairingCode.code else { return [] }
        registration.pairingCode.code = nil
        var actions: [LinkAction] = [cancel(.pairingCode), cancel(.pairingCodeStage2)]
        if case .finishing = session.stage, advSecret.isAwaitingPairCodeSuccess {
            let fresh = random.bytes(32)
            if (try? advSecret.retirePairCode(newSecret: fresh)) != nil {
                credentials.advSecretKey = fresh
                actions += reRenderCurrentQR(&registration, now)
            }
        }
        actions.append(.emit(.pairingCodeExpired))
        return actions
    }
}
