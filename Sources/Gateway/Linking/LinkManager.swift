import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Store
import Synchronization
import WhatsAppLink
import WhatsAppProtocol

/// The sessions this worker is linking: one ``LinkClient`` (one WhatsApp connection) per session,
/// owned in the shared store by this worker's tenure (``WorkerTenureKeeper``), so no session ever
/// has two live connections in the fleet. Every write about a linked session is fenced by that
/// tenure: once it lapsed, a write changes nothing and the link ends with `lease_lost`.
///
/// A link ends in exactly one of `auth.paired`, `auth.failed` or `auth.timeout`; the session's status
/// in the store follows (`pairing` → `paired` / `failed` / back to `created`). Credentials and
/// identity are stored in one atomic write on `<success>`, before `auth.paired` goes out, so a
/// failure never leaves half a pairing.
///
/// A link's own loop (keepalives, QR rotation, the server's stanzas) never waits on the store or the
/// broker: what it reports goes into the link's ``LinkOutbox``, which a task of its own drains in
/// order. Events of one session therefore go out in the order they happened, however slow the
/// broker is.
///
/// As a `Service`, graceful shutdown stops every link (`auth.failed` with `worker_stopped`) and
/// returns once their last events went out.
public final class LinkManager: Service, Sendable {
    public struct Configuration: Sendable {
        public var link: LinkConfiguration
        /// The worker lease: how long this worker's tenure (and so its sessions) holds without a
        /// renewal; renewed every third of it, and given up locally a sixth before it ends.
        public var leaseDuration: Duration
        /// Links one worker runs at once; more get 503.
        public var maximumConcurrentLinks: Int
        /// On graceful shutdown, how long running pairings may go on to finish by themselves before
        /// they are stopped (`WALINK_DRAIN_SECONDS`).
        public var drainDuration: Duration

        public init(
            link: LinkConfiguration, leaseDuration: Duration = .seconds(30), maximumConcurrentLinks: Int = 10_000,
            drainDuration: Duration = .seconds(200)
        ) {
            self.link = link
            self.leaseDuration = leaseDuration
            self.maximumConcurrentLinks = maximumConcurrentLinks
            self.drainDuration = drainDuration
        }
    }

    struct Key: Hashable, Sendable, CustomStringConvertible {
        var organization: String
        var session: String
        var description: String { "\(organization)/\(session)" }
    }

    /// The answer to a request about a session's link: from this worker, or from the worker that
    /// links it (the command is forwarded there).
    enum Routed<Value: Sendable>: Sendable {
        case here(Value)
        case forward(toWorker: String)
    }

    let configuration: Configuration
    let workerID: String
    let store: any WalinkStore
    let events: EventPublisher
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let tenure: WorkerTenureKeeper
    private let active = Mutex(ActiveLinks())
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
        tenure = WorkerTenureKeeper(workerID: workerID, store: store, ttl: configuration.leaseDuration, logger: logger)
        (starts, startContinuation) = AsyncStream.makeStream(of: ActiveLink.self)
    }

    /// The number of links running on this worker.
    public var activeCount: Int { active.withLock { $0.links.count } }

    /// Returns once no link runs on this worker (at once if none does), each gone with its last
    /// events published and its session released; or when the calling task is cancelled.
    public func waitUntilIdle() async {
        let id = active.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = active.withLock { state in
                    guard !state.links.isEmpty, !Task.isCancelled else { return true }
                    state.idleWaiters[id] = continuation
                    return false
                }
                if idle { continuation.resume() }
            }
        } onCancel: {
            active.withLock { $0.idleWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Returns this worker's tenure once one holds (at once if one does); nil when the calling
    /// task is cancelled first.
    public func waitForTenure() async -> WorkerTenure? {
        await tenure.waitForTenure()
    }

    /// The running links, and who waits for there to be none.
    private struct ActiveLinks {
        var links: [Key: ActiveLink] = [:]
        var draining = false
        var drainingWaiters: [CheckedContinuation<Void, Never>] = []
        var idleWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0
    }

    // MARK: - Running

    /// Keeps this worker's tenure and runs every link started here until graceful shutdown (or
    /// ``shutdown()``); returns after the last one ended with its final events published and the
    /// tenure was retired (its sessions free for other workers at once).
    public func run() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { keeper in
                keeper.addTask { await self.tenure.run { lapsed in self.tenureLapsed(lapsed) } }
                await withDiscardingTaskGroup { group in
                    for await link in starts {
                        group.addTask { await self.runLink(link) }
                    }
                }
                keeper.cancelAll()
            }
            await tenure.retire()
        } onGracefulShutdown: {
            self.beginDraining()
        }
    }

    /// Whether graceful shutdown began: new pairings are refused while running ones finish.
    public var isDraining: Bool { active.withLock { $0.draining } }

    /// Returns once graceful shutdown began (at once if it did).
    public func waitUntilDraining() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let draining = active.withLock { state in
                if !state.draining { state.drainingWaiters.append(continuation) }
                return state.draining
            }
            if draining { continuation.resume() }
        }
    }

    /// Graceful shutdown: refuse new pairings (503), let the running ones finish by themselves for up
    /// to the drain time, then stop what is left (``shutdown()``).
    private func beginDraining() {
        let (alreadyDraining, waiters) = active.withLock { state in
            defer {
                state.draining = true
                state.drainingWaiters = []
            }
            return (state.draining, state.drainingWaiters)
        }
        for waiter in waiters { waiter.resume() }
        guard !alreadyDraining else { return }
        logger.info("Draining: no new pairings; running ones may finish", metadata: ["walink.pairings": "\(activeCount)"])
        let limit = configuration.drainDuration
        Task {
            _ = await withTimeLimit(limit) { await self.waitUntilIdle() }
            self.shutdown()
        }
    }

    /// The tenure's local deadline passed or the store refused to renew it: every link it owns
    /// closes its WhatsApp connection now, even while store calls hang.
    private func tenureLapsed(_ lapsed: WorkerTenure) {
        let owned = active.withLock { state in state.links.values.filter { $0.owner.isSame(as: lapsed) } }
        for link in owned { link.stop(.leaseLost) }
    }

    /// Stops taking new links and stops the running ones (`auth.failed` with reason `worker_stopped`).
    public func shutdown() {
        startContinuation.finish()
        for link in active.withLock({ Array($0.links.values) }) { link.stop(.workerStopped) }
    }

    // MARK: - What commands ask

    /// The QR code `session` shows now, starting its pairing when none runs. `.here(nil)`: the code
    /// follows as an `auth.qr` event.
    func currentQR(for session: Session) async throws(GatewayError) -> Routed<CurrentQR?> {
        switch try await location(of: session, start: true) {
        case .remote(let worker)?: .forward(toWorker: worker)
        case .local(let link)?: .here(link.currentQR())
        case nil: .here(nil)
        }
    }

    /// A pairing code for `phone` on `session`'s pairing connection (started when none runs), once
    /// WhatsApp accepted it. A live code is handed out again with its first expiry and no second
    /// `auth.code` event.
    func pairingCode(
        for session: Session, phone: PhoneNumber, showPushNotification: Bool
    ) async throws(GatewayError)
        -> Routed<IssuedCode>
    {
        let link: ActiveLink
        switch try await location(of: session, start: true) {
        case .remote(let worker)?: return .forward(toWorker: worker)
        case .local(let local)?: link = local
        case nil: throw GatewayError(.unavailable, "pairing could not start; try again")
        }
        let code: PairingCode
        do {
            code = try await link.client.requestPairingCode(phone: phone, showPushNotification: showPushNotification)
        } catch {
            throw GatewayError(pairingCodeRefusal: error)
        }
        let (issued, isNew) = link.recordIssuedCode(code.display, lifetime: configuration.link.pairingCodeLifetime)
        if isNew {
            link.outbox.enqueue(.publish(.codeIssued(code: issued.code, phone: phone.digits, expiresAt: issued.expiresAt)))
        }
        return .here(issued)
    }

    /// Stops `session`'s link before the session is deleted, so the phone cannot finish linking a
    /// session that no longer exists; `.forward` when another worker runs it.
    func stopForDeletion(of session: Session) async throws(GatewayError) -> Routed<Void> {
        switch try await location(of: session, start: false) {
        case .remote(let worker)?: return .forward(toWorker: worker)
        case .local(let link)?: link.stop(.sessionDeleted)
        case nil: break
        }
        return .here(())
    }

    // MARK: - Finding or starting a link

    /// Where a session's link lives.
    enum Location {
        case local(ActiveLink)
        /// Another worker holds the lease: forward the command to it.
        case remote(worker: String)
    }

    /// The link of `session`: running here, running on another worker, or (with `start`) started
    /// here now. Nil when none runs and `start` is false.
    func location(of session: Session, start: Bool) async throws(GatewayError) -> Location? {
        let key = Key(organization: session.organization, session: session.id)
        if let link = active.withLock({ $0.links[key] }) {
            // The previous pairing is still closing; a new one can start in a moment.
            guard !link.isEnding || !start else {
                throw GatewayError(
                    .unavailable, "the previous pairing of this session is still closing; retry in a second", details: ["retryAfter": 1])
            }
            return .local(link)
        }
        do {
            if let owner = try await store.sessionOwner(organization: key.organization, session: key.session), owner.owner.worker != workerID {
                return .remote(worker: owner.owner.worker)
            }
        } catch {
            throw GatewayError.from(error)
        }
        guard start else { return nil }
        return try await startLink(key)
    }

    private func startLink(_ key: Key) async throws(GatewayError) -> Location {
        guard !isDraining else { throw GatewayError.draining }
        // A first look spares the store a write when this worker is full anyway.
        guard activeCount < configuration.maximumConcurrentLinks else { throw GatewayError.tooManyLinks }
        // While the worker (re-)registers its tenure, a command waits a little for it.
        guard let owner = await tenure.tenure(patience: configuration.leaseDuration / 3) else { throw GatewayError.noTenure }
        do {
            switch try await store.claimSession(organization: key.organization, session: key.session, by: owner) {
            case .heldByAnother(let held) where held.owner.worker == workerID:
                throw GatewayError(.unavailable, "another process runs with this worker id and owns the session", details: ["retryAfter": 1])
            case .heldByAnother(let held):
                return .remote(worker: held.owner.worker)
            case .granted:
                break
            }
        } catch let error as GatewayError {
            throw error
        } catch let error as StoreError {
            throw error.code == .leaseLost ? GatewayError.noTenure : GatewayError.from(error)
        } catch {
            throw GatewayError(.internalError, "unexpected failure")
        }
        var linkLogger = logger
        linkLogger[metadataKey: "walink.session"] = "\(key)"
        let client = LinkClient(
            credentials: DeviceCredentials.generate(), configuration: configuration.link, eventLoopGroup: eventLoopGroup, logger: linkLogger
        )
        let candidate = ActiveLink(key: key, owner: owner, client: client)
        enum Insertion {
            case inserted
            case existing(ActiveLink)
            case full
        }
        // Two commands for the same session may race here; the first one's link wins. The limit is
        // checked in the same critical section, so concurrent starts cannot overshoot it.
        let insertion = active.withLock { state -> Insertion in
            if let existing = state.links[key] { return .existing(existing) }
            guard state.links.count < configuration.maximumConcurrentLinks else { return .full }
            state.links[key] = candidate
            return .inserted
        }
        switch insertion {
        case .existing(let link):
            return .local(link)
        case .full:
            await release(key, owner: owner)
            throw GatewayError.tooManyLinks
        case .inserted:
            if case .terminated = startContinuation.yield(candidate) {
                removeLink(key)
                await release(key, owner: owner)
                throw GatewayError(.unavailable, "the worker is shutting down")
            }
            logger.info("Pairing started", metadata: ["walink.session": "\(key)"])
            return .local(candidate)
        }
    }

    // MARK: - One link

    private func runLink(_ link: ActiveLink) async {
        let key = link.key
        // Stored before the connection starts, so `session.get` says `pairing` from here on.
        if await storeStatus(link, .pairing) { link.outbox.enqueue(.publish(.status(.pairing))) }
        // The session stays owned until the last event went out, so no other worker starts it
        // again while this one still reports on it.
        await withTaskGroup(of: Void.self) { work in
            work.addTask { await self.drain(link) }
            await link.client.run { event in self.handle(event, of: link) }
            let (terminal, reason) = link.ending
            if !terminal {
                // Stopped from here (shutdown, deletion, lost tenure): say so, so callers can start again.
                let reason = reason ?? .cancelled
                if reason != .sessionDeleted { link.outbox.enqueue(.setStatus(.created)) }
                link.outbox.enqueue(.publish(.failed(reason: .init(reason.rawValue), message: "pairing stopped on this worker")))
            }
            link.outbox.close()
        }
        // Released while the link is still registered here, so no new link of this worker can
        // claim the session in between and then lose it to this release.
        await release(key, owner: link.owner)
        removeLink(key)
        logger.info("Pairing ended", metadata: ["walink.session": "\(key)"])
    }

    private func removeLink(_ key: Key) {
        let waiters = active.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.links.removeValue(forKey: key)
            guard state.links.isEmpty else { return [] }
            defer { state.idleWaiters.removeAll() }
            return Array(state.idleWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// What the link reports, on the link's own loop: only bookkeeping and the outbox, no waiting.
    private func handle(_ event: LinkEvent, of link: ActiveLink) {
        switch event {
        case .qr(let code, let sequence, let expiresAt):
            link.showing(CurrentQR(code: code, sequence: sequence, expiresAt: expiresAt))
            link.outbox.enqueue(.publish(.qr(code: code, sequence: sequence, expiresAt: expiresAt)))
        case .awaitingPasskey:
            link.outbox.enqueue(.publish(.status(.pairing, detail: .awaitingPasskey)))
        case .pairingCodeExpired:
            link.codeExpired()
            link.outbox.enqueue(.publish(.codeExpired))
        case .paired(let device):
            link.ended()
            link.outbox.enqueue(.storePairing(device))
        case .failed(let failure):
            link.ended()
            link.outbox.enqueue(.setStatus(.failed))
            link.outbox.enqueue(
                .publish(.failed(reason: .init(failure.code.name), message: failure.message, whatsappCode: failure.serverCode)))
        case .timeout:
            link.ended()
            link.outbox.enqueue(.setStatus(.created))
            link.outbox.enqueue(.publish(.timeout))
        }
    }

    /// Carries out a link's outbox, one item after the other.
    private func drain(_ link: ActiveLink) async {
        let key = link.key
        for await item in link.outbox.items {
            switch item {
            case .publish(let event):
                await events.publish(event, organization: key.organization, session: key.session)
            case .setStatus(let status):
                if await storeStatus(link, status) {
                    await events.publish(.status(status), organization: key.organization, session: key.session)
                }
            case .storePairing(let device):
                await storePairing(device, of: link)
            }
        }
    }

    /// Identity and credentials in one write; `auth.paired` only once they are stored.
    private func storePairing(_ device: PairedDevice, of link: ActiveLink) async {
        let key = link.key
        let identity = SessionIdentity(
            jid: device.jid.description, lid: device.lid?.description, deviceID: Int(device.deviceID),
            pushName: device.pushName, phone: device.phone, platform: device.platform, businessName: device.businessName
        )
        do {
            let session = try await store.markPaired(
                organization: key.organization, id: key.session, identity: identity, credentials: StoredDevice.encode(device), fence: link.owner
            )
            await events.publish(.status(session.status), organization: key.organization, session: key.session)
            await events.publish(.paired(identity: session.identityJSON ?? .null), organization: key.organization, session: key.session)
            logger.info("Session paired", metadata: ["walink.session": "\(key)"])
        } catch  where error.code == .leaseLost {
            // Another worker may own the session now: this link's success is not ours to store.
            logger.warning("Pairing not stored: this worker no longer owns the session", metadata: ["walink.session": "\(key)"])
            await events.publish(
                .failed(
                    reason: .init(LinkStopReason.leaseLost.rawValue),
                    message: "this worker lost the session before the pairing was stored; pair again"),
                organization: key.organization, session: key.session)
        } catch {
            logger.warning("Pairing could not be stored", metadata: ["walink.session": "\(key)", "walink.error": "\(error)"])
            if await storeStatus(link, .failed) {
                await events.publish(.status(.failed), organization: key.organization, session: key.session)
            }
            await events.publish(
                .failed(reason: .storageFailed, message: "the link succeeded but could not be stored; pair again"),
                organization: key.organization, session: key.session)
        }
    }

    // MARK: - Ownership and status

    private func release(_ key: Key, owner: WorkerTenure) async {
        _ = try? await store.releaseSession(organization: key.organization, session: key.session, by: owner)
    }

    /// Stores the link's session status, fenced by its tenure; false when nothing was updated (a
    /// deleted session, one paired meanwhile, or one this worker no longer owns: then the link stops).
    private func storeStatus(_ link: ActiveLink, _ status: SessionStatus) async -> Bool {
        let key = link.key
        do {
            _ = try await store.setStatus(organization: key.organization, id: key.session, status: status, fence: link.owner)
            return true
        } catch {
            if error.code == .leaseLost { link.stop(.leaseLost) }
            logger.debug("Status not updated", metadata: ["walink.session": "\(key)", "walink.error": "\(error)"])
            return false
        }
    }
}

extension GatewayError {
    static let tooManyLinks = GatewayError(.unavailable, "this worker links too many sessions at once; try again shortly")
    static let draining = GatewayError(
        .unavailable, "this worker is shutting down and takes no new pairings; try again (another worker will)", details: ["retryAfter": 1])
    static let noTenure = GatewayError(
        .unavailable, "this worker cannot own sessions right now (its lease in the session store is not renewed); try again",
        details: ["reason": "store_unavailable", "retryAfter": 1])
}
