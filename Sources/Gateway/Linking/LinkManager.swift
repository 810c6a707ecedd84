import Foundation
import Logging
import NIOCore
import Store
import Synchronization
import WhatsAppLink
import WhatsAppProtocol

/// The sessions this worker is linking: one ``LinkClient`` (one WhatsApp connection) per session,
/// owned through a lease in the shared store so no session ever has two live connections in the
/// fleet.
///
/// A link ends in exactly one of `auth.paired`, `auth.failed` or `auth.timeout`; the session's status
/// in the store follows (`pairing` → `paired` / `failed` / back to `created`). Credentials and
/// identity are stored in one atomic write on `<success>`, so a failure never leaves half a pairing.
public final class LinkManager: Sendable {
    public struct Configuration: Sendable {
        public var link: LinkConfiguration
        /// How long a worker owns a session it links without renewing; renewed every third of it.
        public var leaseDuration: Duration
        /// Links one worker runs at once; more get 503.
        public var maximumConcurrentLinks: Int

        public init(link: LinkConfiguration, leaseDuration: Duration = .seconds(30), maximumConcurrentLinks: Int = 1000) {
            self.link = link
            self.leaseDuration = leaseDuration
            self.maximumConcurrentLinks = maximumConcurrentLinks
        }
    }

    struct Key: Hashable, Sendable, CustomStringConvertible {
        var organization: String
        var session: String
        var description: String { "\(organization)/\(session)" }
    }

    /// One running link and what commands need to know about it.
    final class ActiveLink: Sendable {
        struct Snapshot {
            var qr: String?
            var qrSequence = 0
            var qrExpiresAt: Date?
            var terminal = false
            var stopReason: String?
            /// The pairing code handed out on this link and when it expires.
            var issuedCode: (code: String, expiresAt: Date)?
        }

        let key: Key
        let client: LinkClient
        let snapshot = Mutex(Snapshot())

        init(key: Key, client: LinkClient) {
            self.key = key
            self.client = client
        }

        /// The QR to show now, with its sequence number and expiry.
        var currentQR: (code: String, sequence: Int, expiresAt: Date?)? {
            guard let code = client.currentQR else { return nil }
            return snapshot.withLock { (code, $0.qrSequence, $0.qrExpiresAt) }
        }

        /// The expiry of `code`, and whether it is new: a live code handed out again keeps the expiry
        /// it was given first.
        func recordIssuedCode(_ code: String, lifetime: TimeInterval) -> (expiresAt: Date, isNew: Bool) {
            snapshot.withLock { snapshot in
                if let issued = snapshot.issuedCode, issued.code == code { return (issued.expiresAt, false) }
                let expiresAt = Date().addingTimeInterval(lifetime)
                snapshot.issuedCode = (code, expiresAt)
                return (expiresAt, true)
            }
        }

        /// Finished or being stopped: its connection is closing and it will not show another code.
        var isEnding: Bool { snapshot.withLock { $0.terminal || $0.stopReason != nil } }

        func stop(reason: String) {
            snapshot.withLock { $0.stopReason = $0.stopReason ?? reason }
            client.cancel()
        }
    }

    /// Where a session's link lives.
    enum Location {
        case local(ActiveLink)
        /// Another worker holds the lease: forward the command to it.
        case remote(worker: String)
    }

    let configuration: Configuration
    let workerID: String
    let store: any WalinkStore
    let events: EventPublisher
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let active = Mutex<[Key: ActiveLink]>([:])
    private let starts: AsyncStream<ActiveLink>
    private let startContinuation: AsyncStream<ActiveLink>.Continuation

    public init(
        configuration: Configuration,
        workerID: String,
        store: any WalinkStore,
        events: EventPublisher,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) {
        self.configuration = configuration
        self.workerID = workerID
        self.store = store
        self.events = events
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        (starts, startContinuation) = AsyncStream.makeStream(of: ActiveLink.self)
    }

    /// The number of links running on this worker.
    public var activeCount: Int { active.withLock { $0.count } }

    // MARK: - Running

    /// Runs every link started through ``location(of:start:)`` until ``shutdown()``; returns after the
    /// last one ended (each with its final event published).
    func run() async {
        await withDiscardingTaskGroup { group in
            for await link in starts {
                group.addTask { await self.runLink(link) }
            }
        }
    }

    /// Stops taking new links and stops the running ones (`auth.failed` with reason `worker_stopped`).
    func shutdown() {
        startContinuation.finish()
        for link in active.withLock({ Array($0.values) }) { link.stop(reason: "worker_stopped") }
    }

    /// Stops a session's link on this worker, if any (the session is being deleted).
    func stop(organization: String, session: String) {
        active.withLock { $0[Key(organization: organization, session: session)] }?.stop(reason: "session_deleted")
    }

    // MARK: - Finding or starting a link

    /// The link of `session`: running here, running on another worker, or (with `start`) started
    /// here now. Nil when none runs and `start` is false.
    func location(of session: Session, start: Bool) async throws(GatewayError) -> Location? {
        let key = Key(organization: session.organization, session: session.id)
        if let link = active.withLock({ $0[key] }) {
            // The previous pairing is still closing; a new one can start in a moment.
            guard !link.isEnding || !start else {
                throw GatewayError(
                    .unavailable, "the previous pairing of this session is still closing; retry in a second", details: ["retryAfter": 1])
            }
            return .local(link)
        }
        do {
            if let lease = try await store.leaseOwner(organization: key.organization, session: key.session), lease.owner != workerID {
                return .remote(worker: lease.owner)
            }
        } catch {
            throw GatewayError.from(error)
        }
        guard start else { return nil }
        return try await startLink(key)
    }

    private func startLink(_ key: Key) async throws(GatewayError) -> Location {
        guard activeCount < configuration.maximumConcurrentLinks else {
            throw GatewayError(.unavailable, "this worker links too many sessions at once; try again shortly")
        }
        do {
            switch try await store.acquireLease(
                organization: key.organization, session: key.session, worker: workerID, ttl: configuration.leaseDuration
            ) {
            case .heldByAnother(let lease):
                return .remote(worker: lease.owner)
            case .granted:
                break
            }
        } catch {
            throw GatewayError.from(error)
        }
        var linkLogger = logger
        linkLogger[metadataKey: "walink.session"] = "\(key)"
        let client = LinkClient(
            credentials: DeviceCredentials.generate(), configuration: configuration.link, eventLoopGroup: eventLoopGroup, logger: linkLogger
        )
        let candidate = ActiveLink(key: key, client: client)
        // Two commands for the same session may race here; the first one's link wins.
        let (link, isNew) = active.withLock { links -> (ActiveLink, Bool) in
            if let existing = links[key] { return (existing, false) }
            links[key] = candidate
            return (candidate, true)
        }
        if isNew {
            if case .terminated = startContinuation.yield(link) {
                active.withLock { _ = $0.removeValue(forKey: key) }
                await releaseLease(key)
                throw GatewayError(.unavailable, "the worker is shutting down")
            }
            logger.info("Pairing started", metadata: ["walink.session": "\(key)"])
        }
        return .local(link)
    }

    // MARK: - One link

    private func runLink(_ link: ActiveLink) async {
        let key = link.key
        await setStatus(key, .pairing)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.keepLease(link) }
            await link.client.run { event in await self.handle(event, of: link) }
            group.cancelAll()
        }
        let (terminal, reason) = link.snapshot.withLock { ($0.terminal, $0.stopReason) }
        if !terminal {
            // Stopped from here (shutdown, deletion, lost lease): say so, so callers can start again.
            let reason = reason ?? "cancelled"
            if reason != "session_deleted" { await setStatus(key, .created) }
            await events.publish(
                "auth.failed", organization: key.organization, session: key.session,
                data: [
                    "reason": .string(reason), "message": .string("pairing stopped on this worker"),
                ])
        }
        // Released while the link is still registered here, so no new link of this worker can
        // take the lease in between and then lose it to this release.
        await releaseLease(key)
        active.withLock { _ = $0.removeValue(forKey: key) }
        logger.info("Pairing ended", metadata: ["walink.session": "\(key)"])
    }

    private func handle(_ event: LinkEvent, of link: ActiveLink) async {
        let key = link.key
        switch event {
        case .qr(let code, let sequence, let expiresAt):
            link.snapshot.withLock {
                $0.qr = code
                $0.qrSequence = sequence
                $0.qrExpiresAt = expiresAt
            }
            await events.publish(
                "auth.qr", organization: key.organization, session: key.session,
                data: [
                    "qr": .string(code), "seq": .int(Int64(sequence)), "expiresAt": .string(expiresAt.walinkTimestamp),
                ], expiresAt: expiresAt)
        case .awaitingPasskey:
            await events.publish(
                "session.status", organization: key.organization, session: key.session,
                data: [
                    "status": "pairing", "detail": "awaiting_passkey",
                    "message": "the phone asks for passkey verification, which walink cannot provide; use another phone or QR",
                ])
        case .pairingCodeExpired:
            link.snapshot.withLock { $0.issuedCode = nil }
            await events.publish("auth.code", organization: key.organization, session: key.session, data: ["status": "expired"])
        case .paired(let device):
            link.snapshot.withLock { $0.terminal = true }
            await storePairing(device, key: key)
        case .failed(let failure):
            link.snapshot.withLock { $0.terminal = true }
            await setStatus(key, .failed)
            var data: JSONObject = ["reason": .string(failure.code.name), "message": .string(failure.message)]
            if let serverCode = failure.serverCode { data["whatsappCode"] = .int(Int64(serverCode)) }
            await events.publish("auth.failed", organization: key.organization, session: key.session, data: .object(data))
        case .timeout:
            link.snapshot.withLock { $0.terminal = true }
            await setStatus(key, .created)
            await events.publish(
                "auth.timeout", organization: key.organization, session: key.session,
                data: [
                    "message": "no phone linked before the codes ran out; ask for a new QR or pairing code"
                ])
        }
    }

    /// Identity and credentials in one write; `auth.paired` only once they are stored.
    private func storePairing(_ device: PairedDevice, key: Key) async {
        let identity = SessionIdentity(
            jid: device.jid.description, lid: device.lid?.description, deviceID: Int(device.deviceID),
            pushName: device.pushName, phone: device.phone, platform: device.platform, businessName: device.businessName
        )
        do {
            let session = try await store.markPaired(
                organization: key.organization, id: key.session, identity: identity, credentials: StoredDevice.encode(device)
            )
            await events.publish(
                "session.status", organization: key.organization, session: key.session, data: ["status": .string(session.status.rawValue)])
            await events.publish("auth.paired", organization: key.organization, session: key.session, data: session.identityJSON ?? .null)
            logger.info("Session paired", metadata: ["walink.session": "\(key)"])
        } catch {
            logger.warning("Pairing could not be stored", metadata: ["walink.session": "\(key)", "walink.error": "\(error)"])
            await setStatus(key, .failed)
            await events.publish(
                "auth.failed", organization: key.organization, session: key.session,
                data: [
                    "reason": "storage_failed", "message": "the link succeeded but could not be stored; pair again",
                ])
        }
    }

    // MARK: - Lease and status

    private func keepLease(_ link: ActiveLink) async {
        let key = link.key
        var lastRenewed = ContinuousClock.now
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.leaseDuration / 3)
            } catch {
                return
            }
            do {
                let renewed = try await store.renewLease(
                    organization: key.organization, session: key.session, worker: workerID, ttl: configuration.leaseDuration
                )
                guard renewed != nil else {
                    logger.warning("Lease lost; stopping this worker's link", metadata: ["walink.session": "\(key)"])
                    link.stop(reason: "lease_lost")
                    return
                }
                lastRenewed = ContinuousClock.now
            } catch {
                // A busy or briefly unreachable store: keep trying while the lease still holds.
                guard ContinuousClock.now - lastRenewed < configuration.leaseDuration else {
                    logger.warning("Lease not renewed in time; stopping this worker's link", metadata: ["walink.session": "\(key)"])
                    link.stop(reason: "lease_lost")
                    return
                }
            }
        }
    }

    private func releaseLease(_ key: Key) async {
        _ = try? await store.releaseLease(organization: key.organization, session: key.session, worker: workerID)
    }

    private func setStatus(_ key: Key, _ status: SessionStatus) async {
        do {
            _ = try await store.setStatus(organization: key.organization, id: key.session, status: status)
            await events.publish("session.status", organization: key.organization, session: key.session, data: ["status": .string(status.rawValue)])
        } catch {
            // A deleted session, or one paired meanwhile: nothing to update.
            logger.debug("Status not updated", metadata: ["walink.session": "\(key)", "walink.error": "\(error)"])
        }
    }
}
