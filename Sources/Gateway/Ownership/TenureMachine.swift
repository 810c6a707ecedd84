import Store

/// The worker's tenure as this worker sees it, without I/O or clocks: the driver
/// (``WorkerTenureKeeper``) feeds it monotonic instants and the store's answers.
///
/// Why a local deadline: the store judges the lease by its own clock from when a request
/// *arrives*; this machine counts from before the request was *sent* (`sentAt`), minus a margin,
/// so the worker stops believing in its tenure before the store can let anyone else own its
/// sessions, whatever happens to the call (slow, lost, hanging).
struct TenureMachine: Sendable {
    typealias Instant = ContinuousClock.Instant

    enum State: Sendable, Equatable {
        /// No tenure: registering (at `retryAt`, or at once). `lapsed` is the tenure lost last.
        case unregistered(lapsed: WorkerTenure?, retryAt: Instant?)
        /// Holding `tenure` until `validUntil`; the next renewal is due at `renewAt`.
        case holding(tenure: WorkerTenure, validUntil: Instant, renewAt: Instant)
        /// Shut down: no more requests.
        case retired
    }

    /// What to ask the store.
    enum Request: Sendable, Equatable {
        case register
        case renew(WorkerTenure)
    }

    /// The store's answer to a ``Request``.
    enum Answer: Sendable, Equatable {
        case registered(WorkerLease)
        /// Nil: the tenure expired in the store or a newer one replaced it.
        case renewed(WorkerLease?)
        /// The store failed or could not be reached.
        case failed
    }

    /// The lease length asked of the store.
    let ttl: Duration
    /// How long before the store's expiry this worker stops trusting its tenure.
    var margin: Duration { ttl / 6 }
    /// Renewals are due this long after the previous one was sent.
    var renewalInterval: Duration { ttl / 3 }
    /// A failed request is retried this much later (renewals sooner while the tenure holds).
    let retryInterval: Duration

    private(set) var state: State = .unregistered(lapsed: nil, retryAt: nil)

    init(ttl: Duration, retryInterval: Duration = .seconds(1)) {
        self.ttl = ttl
        self.retryInterval = retryInterval
    }

    /// The tenure to own sessions with at `now`, if it still holds.
    func tenure(at now: Instant) -> WorkerTenure? {
        guard case .holding(let tenure, let validUntil, _) = state, now < validUntil else { return nil }
        return tenure
    }

    /// When the watchdog must look again: the local deadline while a tenure holds.
    var deadline: Instant? {
        guard case .holding(_, let validUntil, _) = state else { return nil }
        return validUntil
    }

    /// The next request and when to send it; nil once retired.
    func nextRequest(at now: Instant) -> (request: Request, at: Instant)? {
        switch state {
        case .unregistered(_, let retryAt): (.register, retryAt ?? now)
        case .holding(let tenure, _, let renewAt): (.renew(tenure), renewAt)
        case .retired: nil
        }
    }

    /// Takes the store's answer to `request`, sent at `sentAt`. Returns the tenure that lapsed
    /// with it (its links must stop), if any.
    mutating func receive(_ answer: Answer, to request: Request, sentAt: Instant, now: Instant) -> WorkerTenure? {
        switch (state, request, answer) {
        case (.retired, _, _):
            return nil
        case (.unregistered(let lapsed, _), .register, .registered(let lease)):
            let validUntil = sentAt + ttl - margin
            guard now < validUntil else {
                // The answer came too late to be trusted; the tenure starts out lapsed.
                state = .unregistered(lapsed: lease.tenure, retryAt: nil)
                return lease.tenure
            }
            _ = lapsed
            state = .holding(tenure: lease.tenure, validUntil: validUntil, renewAt: sentAt + renewalInterval)
            return nil
        case (.unregistered(let lapsed, _), .register, .failed):
            state = .unregistered(lapsed: lapsed, retryAt: now + retryInterval)
            return nil
        case (.holding(let tenure, let validUntil, _), .renew(let renewing), .renewed(let lease?)) where tenure.isSame(as: renewing):
            guard lease.tenure.isSame(as: tenure) else { return lapse(tenure) }
            let extended = max(validUntil, sentAt + ttl - margin)
            guard now < extended else { return lapse(tenure) }
            state = .holding(tenure: tenure, validUntil: extended, renewAt: sentAt + renewalInterval)
            return nil
        case (.holding(let tenure, _, _), .renew(let renewing), .renewed(nil)) where tenure.isSame(as: renewing):
            return lapse(tenure)
        case (.holding(let tenure, let validUntil, _), .renew(let renewing), .failed) where tenure.isSame(as: renewing):
            guard now < validUntil else { return lapse(tenure) }
            state = .holding(tenure: tenure, validUntil: validUntil, renewAt: min(now + retryInterval, validUntil))
            return nil
        default:
            // An answer about a tenure this machine no longer holds (the watchdog ended it
            // meanwhile): nothing to change; the next request registers anew.
            return nil
        }
    }

    /// The watchdog's look at `now`: the tenure that lapsed, if its deadline passed.
    mutating func expire(at now: Instant) -> WorkerTenure? {
        guard case .holding(let tenure, let validUntil, _) = state, now >= validUntil else { return nil }
        return lapse(tenure)
    }

    /// Stops for good; answers the tenure to retire in the store, if one holds.
    mutating func retire() -> WorkerTenure? {
        defer { state = .retired }
        if case .holding(let tenure, _, _) = state { return tenure }
        return nil
    }

    private mutating func lapse(_ tenure: WorkerTenure) -> WorkerTenure {
        state = .unregistered(lapsed: tenure, retryAt: nil)
        return tenure
    }
}
