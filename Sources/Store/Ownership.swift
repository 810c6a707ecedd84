import Foundation

/// One run of a worker process, and the fencing token of everything it owns. `epoch` grows by one
/// each time a process registers under `worker`, so a second process started with a live worker id
/// (or the same process registering again after its lease lapsed) fences every earlier run: their
/// token never matches again.
public struct WorkerTenure: Sendable, Hashable, CustomStringConvertible {
    public var worker: String
    public var epoch: Int64

    public init(worker: String, epoch: Int64) {
        self.worker = worker
        self.epoch = epoch
    }

    public var description: String { "\(worker)#\(epoch)" }

    /// Same worker (compared by UTF-8 bytes, as SQL compares text: Swift's `==` would take two
    /// canonically equivalent spellings for one worker) and same epoch.
    public func isSame(as other: WorkerTenure) -> Bool {
        epoch == other.epoch && worker.utf8.elementsEqual(other.worker.utf8)
    }
}

/// A worker's lease: its tenure holds until `expiresAt` (the store's clock) unless renewed. One
/// lease per worker, whatever the number of sessions it owns, so ownership upkeep costs the store
/// one write per renewal interval per worker.
public struct WorkerLease: Sendable, Hashable {
    public var tenure: WorkerTenure
    public var expiresAt: Date

    public init(tenure: WorkerTenure, expiresAt: Date) {
        self.tenure = tenure
        self.expiresAt = expiresAt
    }
}

/// Which worker tenure owns a session (holds its WhatsApp connection). Valid only while the
/// owner's worker lease with the same epoch is unexpired.
public struct SessionOwnership: Sendable, Hashable {
    public var organization: String
    public var session: String
    public var owner: WorkerTenure
    public var acquiredAt: Date

    public init(organization: String, session: String, owner: WorkerTenure, acquiredAt: Date) {
        self.organization = organization
        self.session = session
        self.owner = owner
        self.acquiredAt = acquiredAt
    }
}

/// The answer of `claimSession`.
public enum SessionClaim: Sendable, Hashable {
    /// The claimer owns the session now (newly, taken over from a lapsed tenure, or already).
    case granted(SessionOwnership)
    /// A live tenure of another worker (or another run of this one) owns it: forward to its owner.
    case heldByAnother(SessionOwnership)

    public var ownership: SessionOwnership {
        switch self {
        case .granted(let ownership), .heldByAnother(let ownership): ownership
        }
    }

    public var isGranted: Bool {
        if case .granted = self { true } else { false }
    }
}

/// The ownership rules as pure decisions over stored records, so every store decides alike: a
/// store reads the records, asks here, and writes what it is told, inside one transaction (SQLite,
/// PostgreSQL) or under one lock (memory). Times are store milliseconds from the store's clock.
package enum OwnershipRules {
    /// `registerWorker`: a new tenure, one epoch past the worker's last (a retired or lapsed
    /// lease keeps its epoch for this).
    package static func register(_ current: WorkerLease?, worker: String, now: Int64, ttlMilliseconds: Int64) -> WorkerLease {
        WorkerLease(
            tenure: WorkerTenure(worker: worker, epoch: (current?.tenure.epoch ?? 0) + 1),
            expiresAt: Date(storeMilliseconds: now + ttlMilliseconds))
    }

    /// `renewWorker`: the extended lease, or nil when `tenure` is not the worker's live tenure
    /// (superseded by a newer epoch, or expired: a lapsed tenure must register anew, since its
    /// sessions may have been taken over meanwhile).
    package static func renew(_ current: WorkerLease?, tenure: WorkerTenure, now: Int64, ttlMilliseconds: Int64) -> WorkerLease? {
        guard isLive(current, tenure, now: now), var lease = current else { return nil }
        lease.expiresAt = Date(storeMilliseconds: now + ttlMilliseconds)
        return lease
    }

    /// `retireWorker`: the lease ended now, or nil when `tenure` is not the current one.
    package static func retire(_ current: WorkerLease?, tenure: WorkerTenure, now: Int64) -> WorkerLease? {
        guard var lease = current, lease.tenure.isSame(as: tenure) else { return nil }
        lease.expiresAt = Date(storeMilliseconds: min(lease.expiresAt.storeMilliseconds, now))
        return lease
    }

    /// Whether `lease` is `tenure`'s and unexpired (`now < expiresAt`).
    package static func isLive(_ lease: WorkerLease?, _ tenure: WorkerTenure, now: Int64) -> Bool {
        guard let lease else { return false }
        return lease.tenure.isSame(as: tenure) && lease.expiresAt.storeMilliseconds > now
    }

    /// `claimSession`: `.granted` with the record to store, or `.heldByAnother` (nothing to
    /// store). `holderLease` is the worker lease of the current record's owner. Throws
    /// `.leaseLost` when the claimer's own tenure is not live: it may not own anything.
    package static func claim(
        _ current: SessionOwnership?, holderLease: WorkerLease?, claimerLease: WorkerLease?, organization: String, session: String,
        claimer: WorkerTenure, now: Int64
    ) throws(StoreError) -> SessionClaim {
        guard isLive(claimerLease, claimer, now: now) else { throw StoreError.leaseLost }
        if let current {
            if current.owner.isSame(as: claimer) { return .granted(current) }
            if isLive(holderLease, current.owner, now: now) { return .heldByAnother(current) }
        }
        return .granted(SessionOwnership(organization: organization, session: session, owner: claimer, acquiredAt: Date(storeMilliseconds: now)))
    }

    /// The fence of an owner's write: `fence` must own the session and hold a live worker lease.
    package static func checkFence(_ current: SessionOwnership?, ownerLease: WorkerLease?, fence: WorkerTenure, now: Int64) throws(StoreError) {
        guard let current, current.owner.isSame(as: fence), isLive(ownerLease, fence, now: now) else { throw StoreError.leaseLost }
    }

    /// `sessionOwner`: the record when its owner's tenure is live.
    package static func valid(_ current: SessionOwnership?, ownerLease: WorkerLease?, now: Int64) -> SessionOwnership? {
        guard let current, isLive(ownerLease, current.owner, now: now) else { return nil }
        return current
    }
}

extension StoreError {
    package static let leaseLost = StoreError(
        .leaseLost, "this worker's tenure no longer owns the session (its lease lapsed or another worker took the session over); nothing was written")
}
