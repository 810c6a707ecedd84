import Foundation

/// The rules of ``LeaseStore`` as pure decisions over a session's stored lease record, so every
/// store implementation decides alike: a store reads the record, asks here, and writes what it is
/// told, all inside one transaction (SQLite) or under one lock (memory).
///
/// Times are store milliseconds, read from the store's clock once per operation. A record outlives
/// its tenures: a release leaves it ownerless (``noOwner``) and expired rather than deleting it, so
/// the next tenure's generation is still one more than the last and a released holder's fencing
/// token never matches again.
///
/// Workers are compared by their UTF-8 bytes, as SQL compares text: Swift's `==` would treat two
/// canonically equivalent spellings of a worker id as one worker.
enum LeaseRules {
    /// The owner of a released record. Worker ids are never empty (``StoreValidation/isValidWorker(_:)``).
    static let noOwner = ""

    /// `acquireLease`: `.granted` with the record to store, or `.heldByAnother` with the current
    /// record (nothing to store).
    static func acquire(
        _ current: Lease?, organization: String, session: String, worker: String, now: Int64, ttlMilliseconds: Int64
    ) -> LeaseAcquisition {
        let expires = Date(storeMilliseconds: now + ttlMilliseconds)
        guard let current else {
            return .granted(
                Lease(
                    organization: organization, session: session, owner: worker, acquiredAt: Date(storeMilliseconds: now), expiresAt: expires,
                    generation: 1))
        }
        if isValid(current, now: now) {
            guard isOwner(current, worker) else { return .heldByAnother(current) }
            // Re-acquiring one's own valid lease extends it; nobody else held it in between.
            var extended = current
            extended.expiresAt = expires
            return .granted(extended)
        }
        // Expired or released: a new tenure, whoever takes it (the previous owner included).
        return .granted(
            Lease(
                organization: organization, session: session, owner: worker, acquiredAt: Date(storeMilliseconds: now), expiresAt: expires,
                generation: current.generation + 1))
    }

    /// `renewLease`: the record to store, or nil when `worker` does not own it. An expired lease
    /// nobody took over still belongs to its owner, so it is renewed.
    static func renew(_ current: Lease?, worker: String, now: Int64, ttlMilliseconds: Int64) -> Lease? {
        guard var lease = current, isOwner(lease, worker) else { return nil }
        lease.expiresAt = Date(storeMilliseconds: now + ttlMilliseconds)
        return lease
    }

    /// `releaseLease`: the ownerless, expired record to store, or nil when `worker` did not hold it.
    static func release(_ current: Lease?, worker: String, now: Int64) -> Lease? {
        guard var lease = current, isOwner(lease, worker) else { return nil }
        lease.owner = noOwner
        lease.expiresAt = Date(storeMilliseconds: min(lease.expiresAt.storeMilliseconds, now))
        return lease
    }

    /// `leaseOwner`: the record when somebody holds it and it has not expired (`now < expiresAt`).
    static func valid(_ current: Lease?, now: Int64) -> Lease? {
        guard let current, isValid(current, now: now) else { return nil }
        return current
    }

    private static func isValid(_ lease: Lease, now: Int64) -> Bool {
        lease.owner != noOwner && lease.expiresAt.storeMilliseconds > now
    }

    private static func isOwner(_ lease: Lease, _ worker: String) -> Bool {
        lease.owner.utf8.elementsEqual(worker.utf8)
    }
}
