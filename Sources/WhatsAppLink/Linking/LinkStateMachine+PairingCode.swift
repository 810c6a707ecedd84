import Foundation
import Logging
import WhatsAppProtocol

/// Phone-number pairing (linking spec §5, 2026 addendum §C.3, §C.4): companion_hello, the code's lifetime,
/// primary_hello → companion_finish, refresh_code.
extension LinkStateMachine {
    mutating func requestPairingCode(id: Int, phone: PhoneNumber, showPush: Bool, _ now: LinkTime) -> [LinkAction] {
        if identity != nil || phase == .restarting || phase == .loggingIn || phase == .awaitingSuccess
            || phase == .postLogin
        {
            return [.answerCodeRequest(id, .failure(LinkError(.alreadyPaired)))]
        }
        if let code {
            // Never a second live code (primary_hello is routed by number, §C.3).
            guard code.phone == phone else {
                return [.answerCodeRequest(id, .failure(LinkError(.numberConflict)))]
            }
            if code.stage == .requested {
                codeWaiters.append((id, phone, showPush))
                return [startTimer(.codeRequest(id), after: configuration.pairingCodeRequestTimeout)]
            }
            return [.answerCodeRequest(id, .success(code.code))]
        }
        if let waiting = codeWaiters.first, waiting.phone != phone {
            return [.answerCodeRequest(id, .failure(LinkError(.numberConflict)))]
        }
        codeWaiters.append((id, phone, showPush))
        var actions = [startTimer(.codeRequest(id), after: configuration.pairingCodeRequestTimeout)]
        if phase == .registered && pairDeviceReceived {
            actions += sendCompanionHello(phone: phone, showPush: showPush, now)
        }
        return actions
    }

    /// Requests that arrived before `pair-device`: the first one's phone gets a code.
    mutating func sendPendingCodeRequests(_ now: LinkTime) -> [LinkAction] {
        guard code == nil, let first = codeWaiters.first else { return [] }
        return sendCompanionHello(phone: first.phone, showPush: first.showPush, now)
    }

    /// companion_hello with a fresh code and ephemeral key (§5.3–§5.5).
    private mutating func sendCompanionHello(phone: PhoneNumber, showPush: Bool, _ now: LinkTime) -> [LinkAction] {
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
            return answerAllWaiters(LinkError(.rejected))
        }
        let id = nextIQID()
        code = CodeSession(
            phone: phone, code: pairingCode, ephemeral: ephemeral, showPushNotification: showPush, stage: .requested,
            helloID: id)
        let node = Stanzas.companionHello(
            id: id, phone: phone, showPushNotification: showPush, wrappedEphemeral: wrapped,
            noisePublicKey: credentials.noiseKey.publicKey, platformID: configuration.companionPlatform.id,
            platformDisplay: configuration.companionPlatformDisplay)
        logger.debug("companion_hello sent", metadata: ["id": "\(id)"])
        return sendIQ(node, id: id, purpose: .companionHello)
    }

    /// The server's answer to companion_hello: the code is live once it gives `link_code_pairing_ref`.
    mutating func companionHelloAnswered(node: BinaryNode?, isError: Bool, _ now: LinkTime) -> [LinkAction] {
        guard var session = code, session.stage == .requested else { return [] }
        let phone = session.phone
        let result: Result<PairingCode, LinkError>
        if let node, !isError {
            let ref = node.child(named: "link_code_companion_reg")?.child(named: "link_code_pairing_ref")?.contentBytes
            if let ref, !ref.isEmpty {
                session.ref = ref
                session.stage = .live
                code = session
                result = .success(session.code)
            } else {
                code = nil
                result = .failure(LinkError(.invalidResponse))
            }
        } else if let node {
            let error = Stanzas.IQError(node)
            code = nil
            result = .failure(LinkError(iqErrorCode: error.code, text: error.text, backoffSeconds: error.backoffSeconds))
        } else {
            code = nil
            result = .failure(LinkError(.timeout))
        }
        var actions: [LinkAction] = []
        let answered = codeWaiters.filter { $0.phone == phone }
        codeWaiters.removeAll { $0.phone == phone }
        for waiter in answered {
            actions.append(cancel(.codeRequest(waiter.id)))
            actions.append(.answerCodeRequest(waiter.id, result))
        }
        if case .success = result {
            actions.append(startTimer(.pairingCode, after: configuration.pairingCodeLifetime))
        } else {
            if case .failure(let error) = result {
                logger.info("pairing code refused", metadata: ["error": "\(error)"])
            }
            // Requests for another number may now go ahead.
            actions += sendPendingCodeRequests(now)
            actions += endIfNothingOutstanding()
        }
        return actions
    }

    /// `notification type=link_code_companion_reg`: dispatched on the child's `stage` (§C, 2026-05-30).
    mutating func receivedLinkCodeNotification(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard isRegistered, let body = node.child(named: "link_code_companion_reg") else { return [] }
        switch body["stage"] {
        case "refresh_code":
            return refreshCode(body, now)
        default:
            guard body.child(named: "link_code_pairing_wrapped_primary_ephemeral_pub") != nil else {
                // No stage-2 data (e.g. a passkey precursor): not a failure (2026 §B.3).
                logger.debug("link_code_companion_reg without primary_hello data")
                return []
            }
            return primaryHello(body, now)
        }
    }

    /// primary_hello: the user typed the code; unwrap, derive the new adv secret, send companion_finish (§5.7).
    private mutating func primaryHello(_ body: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard var session = code, session.stage != .requested else {
            logger.debug("primary_hello without a live code; dropped")
            return []
        }
        guard body.child(named: "link_code_pairing_ref")?.contentBytes == session.ref else {
            logger.warning("primary_hello for another ref; dropped")
            return []
        }
        guard session.primaryHellos < configuration.maximumPrimaryHellos else {
            logger.warning("too many primary_hello for one code; dropped")
            return []
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
            logger.warning("primary_hello unusable", metadata: ["error": "\(error)"])
            return []
        }
        credentials.advSecretKey = finish.advSecret
        session.primaryHellos += 1
        session.stage = .stage2
        code = session
        let id = nextIQID()
        logger.debug("companion_finish sent", metadata: ["id": "\(id)"])
        return sendIQ(
            Stanzas.companionFinish(
                id: id, phone: session.phone, wrappedKeyBundle: finish.wrappedKeyBundle,
                identityPublicKey: credentials.identityKey.publicKey, ref: session.ref),
            id: id, purpose: .companionFinish)
            + [startTimer(.pairingCodeStage2, after: configuration.pairingCodeStage2Timeout)]
    }

    /// The companion_finish answer must be read; a refusal retires the code (§C.4).
    mutating func companionFinishAnswered(node: BinaryNode?, isError: Bool, _ now: LinkTime) -> [LinkAction] {
        guard isError else { return [] }
        let error = node.map(Stanzas.IQError.init)
        logger.info("companion_finish refused", metadata: ["code": "\(error?.code.map(String.init) ?? "timeout")"])
        return retireCode(now)
    }

    /// refresh_code: honoured only for the outstanding code's ref (§C.3); the code dies.
    private mutating func refreshCode(_ body: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard let session = code, session.stage != .requested,
            body.child(named: "link_code_pairing_ref")?.contentBytes == session.ref
        else {
            logger.debug("refresh_code for no outstanding code; ignored")
            return []
        }
        logger.debug("refresh_code", metadata: ["force_manual": "\(body["force_manual_refresh"] ?? "false")"])
        return retireCode(now)
    }

    mutating func pairingCodeExpired(_ now: LinkTime) -> [LinkAction] {
        // A stage-2 exchange in flight has its own deadline.
        guard let session = code, session.stage == .live else { return [] }
        logger.debug("pairing code expired")
        return retireCode(now)
    }

    mutating func pairingCodeStage2Expired(_ now: LinkTime) -> [LinkAction] {
        guard let session = code, session.stage == .stage2 else { return [] }
        logger.info("no pair-success after primary_hello; retiring the code")
        return retireCode(now)
    }

    /// The code is dead: a stage-2 secret is replaced by a fresh random one (and the QR re-rendered with it),
    /// the worker is told, and the run ends if nothing else keeps it alive.
    private mutating func retireCode(_ now: LinkTime) -> [LinkAction] {
        guard let session = code else { return [] }
        code = nil
        var actions: [LinkAction] = [cancel(.pairingCode), cancel(.pairingCodeStage2)]
        if session.stage == .stage2, advSecret.isAwaitingPairCodeSuccess {
            let fresh = random.bytes(32)
            if (try? advSecret.retirePairCode(newSecret: fresh)) != nil {
                credentials.advSecretKey = fresh
                actions += reRenderCurrentQR(now)
            }
        }
        actions.append(.emit(.pairingCodeExpired))
        actions += endIfNothingOutstanding()
        return actions
    }
}
