import Foundation
import Logging
import WhatsAppProtocol

/// pair-success (linking spec §6), the restart, `<success>` and the post-login iqs (§7, §8).
extension LinkStateMachine {
    mutating func receivedPairSuccess(_ iq: BinaryNode, _ pairSuccess: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard let id = iq["id"] else { return [] }
        guard isRegistered else {
            logger.debug("pair-success while not waiting for one; ignored")
            return []
        }
        guard let deviceIdentity = pairSuccess.child(named: "device-identity")?.contentBytes,
            let device = pairSuccess.child(named: "device"), let jid = device.jid("jid"), UInt64(jid.user) != nil,
            jid.device > 0
        else {
            return [.send(Stanzas.pairError(id: id, code: 500, text: "internal-error"))]
                + finish(.failed(LinkFailure(.serverError, "malformed pair-success", serverCode: 500)))
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
            return [.send(Stanzas.pairError(id: id, code: error.replyCode, text: error.replyText))] + finish(.failed(failure))
        }

        advSecret.markPaired()
        identity = PairedIdentity(
            jid: jid, lid: device.jid("lid"), platform: pairSuccess.child(named: "platform")?["name"],
            businessName: pairSuccess.child(named: "biz")?["name"].flatMap { $0.isEmpty ? nil : $0 },
            clientProps: pairSuccess.child(named: "client-props")?.contentBytes,
            signedDeviceIdentity: verified.signedDeviceIdentity,
            primaryIdentityKey: verified.account.primaryIdentityPublicKey, keyIndex: verified.account.keyIndex)
        phase = .restarting
        qrShowing = false
        currentQR = nil
        code = nil
        passkeyActive = false
        logger.debug("pair-success verified; waiting for restart")
        var actions: [LinkAction] = [
            cancel(.qrRotation), cancel(.pairingCode), cancel(.pairingCodeStage2), cancel(.passkey), cancel(.pairDevice),
        ]
        actions += answerAllWaiters(LinkError(.alreadyPaired))
        actions.append(
            .send(
                Stanzas.pairDeviceSign(
                    id: id, keyIndex: verified.account.keyIndex, deviceIdentity: verified.replyDeviceIdentity)))
        actions.append(startTimer(.restart, after: configuration.restartTimeout))
        return actions
    }

    /// `<success>`: the login worked. Ignored before pairing completed (whatsmeow since 2026-06-22).
    mutating func receivedSuccess(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard phase == .awaitingSuccess, var paired = identity else {
            logger.debug("<success> before pairing completed; ignored")
            return []
        }
        if paired.lid == nil { paired.lid = node.jid("lid") }
        identity = paired
        phase = .postLogin
        pairedAt = now.date
        let id = nextIQID()
        return [cancel(.login), startTimer(.postLogin, after: configuration.postLoginTimeout)]
            + sendIQ(Stanzas.preKeyCount(id: id), id: id, purpose: .preKeyCount)
    }

    /// The post-login iqs in whatsmeow's order: prekey count, upload if low, passive; none is fatal (§8.6).
    mutating func postLoginStep(_ purpose: PendingIQ, node: BinaryNode?, isError: Bool, _ now: LinkTime) -> [LinkAction] {
        guard phase == .postLogin else { return [] }
        switch purpose {
        case .preKeyCount:
            let count = isError ? nil : node?.child(named: "count")?["value"].flatMap { Int($0) }
            if let count, count < configuration.minimumPreKeyCount, configuration.preKeyUploadCount > 0 {
                preKeys = (0..<configuration.preKeyUploadCount).map { index in
                    PreKey(id: UInt32(index + 1), keyPair: random.keyPair())
                }
                let id = nextIQID()
                return sendIQ(
                    Stanzas.preKeyUpload(id: id, credentials: credentials, preKeys: preKeys), id: id, purpose: .preKeyUpload)
            }
            if count == nil { logger.debug("no usable prekey count; not uploading") }
            return sendPassive()
        case .preKeyUpload:
            if isError {
                logger.warning("prekey upload refused")
                preKeys = []
            }
            return sendPassive()
        case .passive:
            return finish(.paired(pairedDevice(now)))
        default:
            return []
        }
    }

    private mutating func sendPassive() -> [LinkAction] {
        let id = nextIQID()
        return sendIQ(Stanzas.passiveActive(id: id), id: id, purpose: .passive)
    }

    /// What the worker stores.
    func pairedDevice(_ now: LinkTime) -> PairedDevice {
        // Only called once pair-success was verified.
        let identity = identity!
        return PairedDevice(
            jid: identity.jid, lid: identity.lid, platform: identity.platform, businessName: identity.businessName,
            pushName: nil, pairedAt: pairedAt ?? now.date, credentials: credentials,
            signedDeviceIdentity: identity.signedDeviceIdentity, primaryIdentityKey: identity.primaryIdentityKey,
            keyIndex: identity.keyIndex, clientProps: identity.clientProps, preKeys: preKeys)
    }
}
