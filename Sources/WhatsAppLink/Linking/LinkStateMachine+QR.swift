import Foundation
import WhatsAppProtocol

/// The registration phase: QR refs, their rotation and `companion_reg_refresh` (linking spec §4, 2026
/// addendum §A), and what else keeps the registration connection up.
///
/// The steps here run on a ``Registration`` taken out of the state (which is `.modifying` meanwhile) and
/// return a ``RegistrationOutcome``; `settle` puts the registration back.
extension LinkStateMachine {
    /// Everything that exists only while the registration connection is up.
    struct Registration: Sendable {
        enum Refs: Sendable {
            /// No `pair-device` yet.
            case awaitingPairDevice
            /// A ref is shown as a QR code.
            case showing(RefRotation)
            /// Every ref was shown (or none could be).
            case exhausted
        }

        var refs = Refs.awaitingPairDevice
        /// Counts the QR events of the run.
        var qrSequence = 0
        var pairingCode: PairingCodeExchange
        /// The server asked for a passkey: the connection stays up for it (2026 §B).
        var awaitingPasskey = false

        init(pairingCode: PairingCodeExchange) {
            self.pairingCode = pairingCode
        }

        /// Nothing but QR refs keeps the connection up: no pairing code and no passkey wait.
        var onlyRefsLeft: Bool { pairingCode.isIdle && !awaitingPasskey }

        /// The refs are gone and nothing else keeps the connection up.
        var hasNothingLeft: Bool {
            guard case .exhausted = refs else { return false }
            return onlyRefsLeft
        }
    }

    /// The refs of the last `pair-device` and the one shown.
    struct RefRotation: Sendable {
        var refs: [String]
        var index: Int
        var startedAt: Duration
        var lifetime: Duration
        /// The QR string last emitted for `refs[index]` (a rotated adv secret changes it).
        var code: String

        /// How long the shown ref is still valid (negative once overdue).
        func remaining(at now: LinkTime) -> Duration {
            startedAt + lifetime - now.elapsed
        }
    }

    mutating func receivedPairDevice(_ iq: BinaryNode, _ pairDevice: BinaryNode, _ now: LinkTime) -> [LinkAction] {
        guard let id = iq["id"] else { return [] }
        // Acknowledge at once, whatever we make of the refs (spec §4.1 step 3; `to` is the sender).
        let ack: [LinkAction] = [.send(Stanzas.iqResult(to: iq.attributes["from"] ?? Stanzas.server, id: id))]
        guard case .registered(var registration) = state else { return ack }
        let newRefs = pairDevice.children(named: "ref").compactMap(\.contentString)
        guard !newRefs.isEmpty else { return ack + [.log(.pairDeviceWithoutRefs)] }
        state = .modifying
        var actions = ack + [cancel(.pairDevice), .log(.pairDevice(refs: newRefs.count))]
        let firstPairDevice: Bool
        if case .awaitingPairDevice = registration.refs { firstPairDevice = true } else { firstPairDevice = false }
        actions += showRef(of: newRefs, from: 0, lifetime: configuration.firstQRLifetime, &registration, now)
        if firstPairDevice {
            actions += sendWaitingCodeRequest(&registration, now)
        }
        return settle(registration, .stay(actions))
    }

    /// Shows `refs[start]` for `lifetime`, skipping refs that cannot form a QR.
    private mutating func showRef(
        of refs: [String], from start: Int, lifetime: Duration, _ registration: inout Registration, _ now: LinkTime
    ) -> [LinkAction] {
        var actions: [LinkAction] = []
        for index in start..<max(start, refs.count) {
            guard let code = renderQR(ref: refs[index]) else {
                actions.append(.log(.refSkipped(index: index)))
                continue
            }
            registration.refs = .showing(
                RefRotation(refs: refs, index: index, startedAt: now.elapsed, lifetime: lifetime, code: code))
            actions.append(emitQR(code, validFor: lifetime, &registration, now))
            actions.append(startTimer(.qrRotation, after: lifetime))
            return actions
        }
        registration.refs = .exhausted
        actions.append(.log(.refsExhausted))
        return actions
    }

    /// The QR string for `ref` with the current adv secret, built now (never cached: a rotation changes it).
    private func renderQR(ref: String) -> String? {
        guard
            let qr = try? PairingQR(
                ref: ref, noisePublicKey: credentials.noiseKey.publicKey,
                identityPublicKey: credentials.identityKey.publicKey, advSecret: advSecret.current)
        else { return nil }
        return configuration.qrUsesURLForm ? qr.deepLink(platform: configuration.companionPlatform) : qr.fourFieldString
    }

    private func emitQR(
        _ code: String, validFor lifetime: Duration, _ registration: inout Registration, _ now: LinkTime
    )
        -> LinkAction
    {
        registration.qrSequence += 1
        return .emit(.qr(code: code, sequence: registration.qrSequence, expiresAt: now.date(after: lifetime)))
    }

    /// Re-emits the current ref with the (new) current adv secret and the time it has left (§A.3, §A.4).
    mutating func reRenderCurrentQR(_ registration: inout Registration, _ now: LinkTime) -> [LinkAction] {
        guard case .showing(var rotation) = registration.refs, let code = renderQR(ref: rotation.refs[rotation.index]) else {
            return []
        }
        rotation.code = code
        registration.refs = .showing(rotation)
        return [emitQR(code, validFor: max(.zero, rotation.remaining(at: now)), &registration, now)]
    }

    /// The registration's own timers.
    mutating func registrationTimerFired(
        _ kind: LinkTimer.Kind, _ registration: inout Registration, _ now: LinkTime
    ) -> RegistrationOutcome {
        switch kind {
        case .qrRotation:
            // The current ref's time is up: the next ref gets the shorter lifetime.
            guard case .showing(let rotation) = registration.refs else { return .stay([]) }
            return .stay(showRef(of: rotation.refs, from: rotation.index + 1, lifetime: configuration.nextQRLifetime, &registration, now))
        case .pairDevice:
            guard case .awaitingPairDevice = registration.refs else { return .stay([]) }
            return .end(.failed(LinkFailure(.timeout, "no pair-device from the server")), after: [])
        case .pairingCode:
            return pairingCodeExpired(&registration, now)
        case .pairingCodeStage2:
            return pairingCodeStage2Expired(&registration, now)
        case .passkey:
            registration.awaitingPasskey = false
            return .stay([])
        case .codeRequest, .iq, .keepAlive, .restart, .login, .postLogin:
            preconditionFailure("not a registration timer: \(kind)")
        }
    }

    /// Whether the QR codes were about to run out anyway (nothing else, such as a pairing code or a
    /// passkey wait, needing the connection): the server's clock runs a little ahead of ours, so
    /// its close may come while we still show the last ref, or even the one before.
    func lastRefIsRunningOut(_ registration: Registration, _ now: LinkTime) -> Bool {
        guard case .showing(let rotation) = registration.refs, registration.onlyRefsLeft else { return false }
        let laterRefs = Int64(max(0, rotation.refs.count - 1 - rotation.index))
        let remaining = rotation.remaining(at: now) + configuration.nextQRLifetime * laterRefs
        let total = configuration.firstQRLifetime + configuration.nextQRLifetime * Int64(rotation.refs.count - 1)
        return remaining <= max(.seconds(2), total / 10)
    }

    /// `companion_reg_refresh` with either child: rotate the adv secret and re-render the QR; dropped while a
    /// pair-code pair-success is pending (whatsapp-rust's rule, §A.5). Acked by the caller.
    mutating func receivedRegRefresh(_ node: BinaryNode, _ registration: inout Registration, _ now: LinkTime) -> RegistrationOutcome {
        guard node.child(named: "companion_reg_refresh") != nil || node.child(named: "pair-device-rotate-qr") != nil
        else { return .stay([.log(.regRefreshWithoutKnownChild)]) }
        let outcome: AdvSecretState.RefreshOutcome
        do {
            outcome = try advSecret.companionRegRefresh(newSecret: random.bytes(32))
        } catch {
            return .stay([])
        }
        switch outcome {
        case .rotated(_, let new):
            credentials.advSecretKey = new
            return .stay([.log(.advSecretRotated)] + reRenderCurrentQR(&registration, now))
        case .ignoredPairCodePending:
            return .stay([.log(.regRefreshDroppedPairCodePending)])
        case .ignoredAlreadyPaired:
            return .stay([])
        }
    }

    mutating func receivedPasskeyRequest(_ node: BinaryNode, _ registration: inout Registration) -> RegistrationOutcome {
        guard Stanzas.isFromServer(node), !registration.awaitingPasskey else { return .stay([]) }
        registration.awaitingPasskey = true
        return .stay([.log(.passkeyRequested), .emit(.awaitingPasskey), startTimer(.passkey, after: configuration.passkeyTimeout)])
    }
}
