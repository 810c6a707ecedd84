import Foundation
import Store
import Synchronization
import WhatsAppLink

/// Why this worker stopped a link before it reached its own end; the `auth.failed` reason.
enum LinkStopReason: String, Sendable {
    /// The worker is shutting down.
    case workerStopped = "worker_stopped"
    /// The session was deleted.
    case sessionDeleted = "session_deleted"
    /// This worker's tenure lapsed (not renewed in time, or replaced), or another worker owns the session now.
    case leaseLost = "lease_lost"
    /// The link's task was cancelled without a reason given.
    case cancelled
}

/// The QR code a session shows now, as the last `auth.qr` event announced it.
struct CurrentQR: Sendable, Hashable {
    var code: String
    var sequence: Int
    var expiresAt: Date
}

/// A pairing code handed out, and until when it is valid.
struct IssuedCode: Sendable, Hashable {
    var code: String
    var expiresAt: Date
}

/// One running link: its client, its outbox, and what commands need to know about it.
final class ActiveLink: Sendable {
    private struct Snapshot {
        var qr: CurrentQR?
        /// The link reached its own end (paired, failed, timed out).
        var terminal = false
        var stopReason: LinkStopReason?
        var issuedCode: IssuedCode?
    }

    let key: LinkManager.Key
    /// The tenure that owns the session; fences every write about it.
    let owner: WorkerTenure
    let client: LinkClient
    let outbox = LinkOutbox()
    private let snapshot = Mutex(Snapshot())

    init(key: LinkManager.Key, owner: WorkerTenure, client: LinkClient) {
        self.key = key
        self.owner = owner
        self.client = client
    }

    /// The QR code to show now: the last one announced, while it is valid and the link runs.
    func currentQR(now: Date = Date()) -> CurrentQR? {
        snapshot.withLock { snapshot in
            guard !snapshot.terminal, snapshot.stopReason == nil, let qr = snapshot.qr, qr.expiresAt > now else { return nil }
            return qr
        }
    }

    func showing(_ qr: CurrentQR) {
        snapshot.withLock { $0.qr = qr }
    }

    /// The expiry of `code`, and whether it is new: a live code handed out again keeps the expiry
    /// it was given first.
    func recordIssuedCode(_ code: String, lifetime: Duration, now: Date = Date()) -> (issued: IssuedCode, isNew: Bool) {
        snapshot.withLock { snapshot in
            if let issued = snapshot.issuedCode, issued.code == code { return (issued, false) }
            let issued = IssuedCode(code: code, expiresAt: now.addingTimeInterval(lifetime.seconds))
            snapshot.issuedCode = issued
            return (issued, true)
        }
    }

    func codeExpired() {
        snapshot.withLock { $0.issuedCode = nil }
    }

    /// The link reached its own end.
    func ended() {
        snapshot.withLock {
            $0.terminal = true
            $0.qr = nil
        }
    }

    /// Whether the link reached its own end, and the reason it was stopped otherwise.
    var ending: (terminal: Bool, stopReason: LinkStopReason?) {
        snapshot.withLock { ($0.terminal, $0.stopReason) }
    }

    /// Finished or being stopped: its connection is closing and it will not show another code.
    var isEnding: Bool { snapshot.withLock { $0.terminal || $0.stopReason != nil } }

    func stop(_ reason: LinkStopReason) {
        snapshot.withLock { $0.stopReason = $0.stopReason ?? reason }
        client.cancel()
    }
}
