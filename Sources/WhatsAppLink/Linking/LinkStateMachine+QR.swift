import Foundation
import Logging
import WhatsAppProtocol

/// QR refs, their rotation and `companion_reg_refresh` (linking spec §4, 2026 addendum §A).
extension LinkStateMachine {
    mutating func receivedPairDevice(_ iq: BinaryNode, _ pairDevice: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard let id = iq["id"] else { return [] }
        // Acknowledge at once, whatever we make of the refs (spec §4.1 step 3; `to` is the sender).
        var actions: [LinkAction] = [.send(Stanzas.iqResult(to: iq.attributes["from"] ?? Stanzas.server, id: id))]
        guard isRegistered else { return actions }
        let newRefs = pairDevice.children(named: "ref").compactMap(\.contentString)
        guard !newRefs.isEmpty else {
            logger.warning("pair-device without refs")
            return actions
        }
        actions.append(cancel(.pairDevice))
        let firstPairDevice = !pairDeviceReceived
        pairDeviceReceived = true
        refs = newRefs
        refIndex = 0
        qrExhausted = false
        logger.debug("pair-device", metadata: ["refs": "\(refs.count)"])
        actions += showRef(lifetime: configuration.firstQRLifetime, now)
        if firstPairDevice {
            actions += sendPendingCodeRequests(now)
        }
        return actions
    }

    /// Shows `refs[refIndex]` for `lifetime`, skipping refs that cannot form a QR.
    mutating func showRef(lifetime: Duration, _ now: LinkTime) -> [LinkAction] {
        while refIndex < refs.count {
            if let text = renderQR(ref: refs[refIndex]) {
                refStartedAt = now.elapsed
                refLifetime = lifetime
                qrShowing = true
                return [emitQR(text, validFor: lifetime, now), startTimer(.qrRotation, after: lifetime)]
            }
            logger.warning("skipping a ref that cannot be put in a QR code", metadata: ["index": "\(refIndex)"])
            refIndex += 1
        }
        return refsExhausted(now)
    }

    /// The QR string for `ref` with the current adv secret, built now (never cached: a rotation changes it).
    func renderQR(ref: String) -> String? {
        guard
            let qr = try? PairingQR(
                ref: ref, noisePublicKey: credentials.noiseKey.publicKey,
                identityPublicKey: credentials.identityKey.publicKey, advSecret: advSecret.current)
        else { return nil }
        return configuration.qrUsesURLForm ? qr.deepLink(platform: configuration.companionPlatform) : qr.fourFieldString
    }

    mutating func emitQR(_ text: String, validFor lifetime: Duration, _ now: LinkTime) -> LinkAction {
        qrSequence += 1
        currentQR = text
        return .emit(.qr(code: text, sequence: qrSequence, expiresAt: now.date(after: lifetime)))
    }

    /// The current ref's time is up: the next ref gets the shorter lifetime.
    mutating func nextRef(_ now: LinkTime) -> [LinkAction] {
        guard qrShowing, isRegistered else { return [] }
        refIndex += 1
        return showRef(lifetime: configuration.nextQRLifetime, now)
    }

    private mutating func refsExhausted(_ now: LinkTime) -> [LinkAction] {
        qrShowing = false
        qrExhausted = true
        currentQR = nil
        logger.debug("QR refs exhausted")
        return endIfNothingOutstanding()
    }

    /// After the refs ran out: end with `timeout` unless a pairing code or a passkey wait keeps the
    /// connection up (2026 §B.7, §C.3).
    mutating func endIfNothingOutstanding() -> [LinkAction] {
        guard isRegistered, qrExhausted, code == nil, codeWaiters.isEmpty, !passkeyActive else { return [] }
        return finish(.timeout)
    }

    /// Re-emits the current ref with the (new) current adv secret and the time it has left (§A.3, §A.4).
    mutating func reRenderCurrentQR(_ now: LinkTime) -> [LinkAction] {
        guard qrShowing, refIndex < refs.count, let text = renderQR(ref: refs[refIndex]) else { return [] }
        let remaining = max(.zero, refStartedAt + refLifetime - now.elapsed)
        return [emitQR(text, validFor: remaining, now)]
    }

    /// `companion_reg_refresh` with either child: rotate the adv secret and re-render the QR; dropped once
    /// paired and while a pair-code pair-success is pending (whatsapp-rust's rule, §A.5). Acked by the caller.
    mutating func receivedRegRefresh(_ node: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard node.child(named: "companion_reg_refresh") != nil || node.child(named: "pair-device-rotate-qr") != nil
        else {
            logger.warning("companion_reg_refresh without a known child; ignored")
            return []
        }
        guard isRegistered else { return [] }
        let outcome: AdvSecretState.RefreshOutcome
        do {
            outcome = try advSecret.companionRegRefresh(newSecret: random.bytes(32))
        } catch {
            return []
        }
        switch outcome {
        case .rotated(_, let new):
            credentials.advSecretKey = new
            logger.debug("adv secret rotated by companion_reg_refresh")
            return reRenderCurrentQR(now)
        case .ignoredPairCodePending:
            logger.debug("companion_reg_refresh dropped: pair-code pair-success pending")
            return []
        case .ignoredAlreadyPaired:
            return []
        }
    }
}
