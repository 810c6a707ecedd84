import Foundation
import WhatsAppProtocol

/// pair-success (linking spec §6), the restart, `<success>` and the post-login iqs (§7, §8).
extension LinkStateMachine {
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

    /// After `<success>`: the identity, when it came, and the prekeys uploaded so far.
    struct PostLogin: Sendable {
        var identity: PairedIdentity
        var pairedAt: Date
        var preKeys: [PreKey] = []
    }

    mutating func receivedPairSuccess(_ iq: BinaryNode, _ pairSuccess: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard let id = iq["id"] else { return [] }
        guard case .registered(var registration) = state else {
            return [.log(.pairSuccessIgnored)]
        }
        state = .modifying
        let outcome = receivedPairSuccess(id: id, pairSuccess, &registration)
        return settle(registration, outcome)
    }

    private mutating func receivedPairSuccess(
        id: String, _ pairSuccess: BinaryNode, _ registration: inout Registration
    ) -> RegistrationOutcome {
        guard let deviceIdentity = pairSuccess.child(named: "device-identity")?.contentBytes,
            let device = pairSuccess.child(named: "device"), let jid = device.jid("jid"), UInt64(jid.user) != nil,
            jid.device > 0
        else {
            return .end(
                .failed(LinkFailure(.serverError, "malformed pair-success", serverCode: 500)),
                after: [.send(Stanzas.pairError(id: id, code: 500, text: "internal-error"))])
        }

        let verified: PairSuccessCrypto.Verified
        do {
            verified = try PairSuccessCrypto.verify(
                deviceIdentity: deviceIdentity, advSecret: advSecret.current, identity: credentials.identityKey,
                signatureRandom: random.bytes(64))
        } catch {
            let failure: LinkFailure
            switch error.code {
            case .hmacMismatch:
                failure = LinkFailure(.hmacMismatch, "pair-success HMAC does not match the current adv secret", serverCode: 401)
            case .signatureMismatch, .invalidAccountSignatureKeyLength, .invalidAccountSignatureLength:
                failure = LinkFailure(.signatureMismatch, "pair-success account signature invalid", serverCode: 401)
            default:
                failure = LinkFailure(.serverError, "pair-success unusable: \(error.code)", serverCode: error.replyCode)
            }
            return .end(.failed(failure), after: [.send(Stanzas.pairError(id: id, code: error.replyCode, text: error.replyText))])
        }

        advSecret.markPaired()
        let identity = PairedIdentity(
            jid: jid, lid: device.jid("lid"), platform: pairSuccess.child(named: "platform")?["name"],
            businessName: pairSuccess.child(named: "biz")?["name"].flatMap { $0.isEmpty ? nil : $0 },
            clientProps: pairSuccess.child(named: "client-props")?.contentBytes,
            signedDeviceIdentity: verified.signedDeviceIdentity,
            primaryIdentityKey: verified.account.primaryIdentityPublicKey, keyIndex: verified.account.keyIndex)
        var actions: [LinkAction] = [
            .log(.pairSuccessVerified),
            cancel(.qrRotation), cancel(.pairingCode), cancel(.pairingCodeStage2), cancel(.passkey), cancel(.pairDevice),
        ]
        // The registration ends here: whoever still waits for a code does not need one.
        actions += answer(registration.pairingCode.waiting, .failure(LinkError(.alreadyPaired)))
        registration.pairingCode.waiting = []
        actions.append(
            .send(Stanzas.pairDeviceSign(id: id, keyIndex: verified.account.keyIndex, deviceIdentity: verified.replyDeviceIdentity)))
        actions.append(startTimer(.restart, after: configuration.restartTimeout))
        return .paired(identity, after: actions)
    }

    /// `<success>`: the login worked. Ignored before pairing completed (whatsmeow since 2026-06-22).
    mutating func receivedSuccess(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard case .awaitingSuccess(var identity) = state else {
            return [.log(.successBeforePairingIgnored)]
        }
        if identity.lid == nil { identity.lid = node.jid("lid") }
        state = .postLogin(PostLogin(identity: identity, pairedAt: now.date))
        let id = nextIQID()
        return [cancel(.login), startTimer(.postLogin, after: configuration.postLoginTimeout)]
            + sendIQ(Stanzas.preKeyCount(id: id), id: id, purpose: .preKeyCount)
    }

    /// The post-login iqs in whatsmeow's order: prekey count, upload if low, passive; none is fatal (§8.6).
    mutating func postLoginStep(_ purpose: PendingIQ, node: BinaryNode?, isError: Bool, _ now: LinkTime) -> [LinkAction] {
        guard case .postLogin(var postLogin) = state else { return [] }
        switch purpose {
        case .preKeyCount:
            let count = isError ? nil : node?.child(named: "count")?["value"].flatMap { Int($0) }
            if let count, count < configuration.minimumPreKeyCount, configuration.preKeyUploadCount > 0 {
                state = .modifying
                postLogin.preKeys = (0..<configuration.preKeyUploadCount).map { index in
                    PreKey(id: UInt32(index + 1), keyPair: random.keyPair())
                }
                state = .postLogin(postLogin)
                let id = nextIQID()
                return sendIQ(
                    Stanzas.preKeyUpload(id: id, credentials: credentials, preKeys: postLogin.preKeys), id: id,
                    purpose: .preKeyUpload)
            }
            return (count == nil ? [.log(.noUsablePreKeyCount)] : []) + sendPassive()
        case .preKeyUpload:
            guard isError else { return sendPassive() }
            state = .modifying
            postLogin.preKeys = []
            state = .postLogin(postLogin)
            return [.log(.preKeyUploadRefused)] + sendPassive()
        case .passive:
            return finish(.paired(pairedDevice(postLogin)))
        case .companionHello, .companionFinish, .ping:
            return []
        }
    }

    private mutating func sendPassive() -> [LinkAction] {
        let id = nextIQID()
        return sendIQ(Stanzas.passiveActive(id: id), id: id, purpose: .passive)
    }

    /// What the worker stores.
    func pairedDevice(_ postLogin: PostLogin) -> PairedDevice {
        let identity = postLogin.identity
        return PairedDevice(
            jid: identity.jid, lid: identity.lid, platform: identity.platform, businessName: identity.businessName,
            pushName: nil, pairedAt: postLogin.pairedAt, credentials: credentials,
            signedDeviceIdentity: identity.signedDeviceIdentity, primaryIdentityKey: identity.primaryIdentityKey,
            keyIndex: identity.keyIndex, clientProps: identity.clientProps, preKeys: postLogin.preKeys)
    }
}
