/// Decides when a connection whose publishes go unconfirmed counts as dead. I/O-free: the driver
/// passes in the time and what it knows, so the rule is tested on virtual time.
///
/// A node cut off from its cluster keeps the connection and takes publishes but never confirms
/// them; heartbeats may still flow. So the oldest unconfirmed publish is the signal: once it has
/// waited ``timeout``, the connection is given up and the publishes go to the next node. A
/// connection the broker blocked (a resource alarm) is exempt, since the broker holds publishes
/// back on purpose there and resending them elsewhere would only duplicate them; once it unblocks
/// the wait counts from the unblocking.
struct ConfirmDeadline {
    let timeout: Duration
    /// When the broker last unblocked the connection.
    private var unblockedAt: ContinuousClock.Instant?

    init(timeout: Duration) {
        self.timeout = timeout
    }

    /// The broker unblocked the connection at `instant`.
    mutating func unblocked(at instant: ContinuousClock.Instant) {
        unblockedAt = instant
    }

    /// A new connection: what happened on the old one no longer counts.
    mutating func reset() {
        unblockedAt = nil
    }

    /// Whether the connection must be given up: the oldest unconfirmed publish was sent at
    /// `oldestSentAt` (nil: none waits) and the connection is not blocked.
    func isMissed(oldestSentAt: ContinuousClock.Instant?, blocked: Bool, now: ContinuousClock.Instant) -> Bool {
        guard !blocked, let oldestSentAt else { return false }
        let waitingSince = unblockedAt.map { max($0, oldestSentAt) } ?? oldestSentAt
        return waitingSince.duration(to: now) >= timeout
    }
}
