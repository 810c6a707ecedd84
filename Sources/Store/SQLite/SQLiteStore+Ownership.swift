import Foundation

// The decisions are `OwnershipRules`'; here the records are only read and written, inside the
// operation's write transaction (`BEGIN IMMEDIATE`), so no other worker changes them in between.
extension SQLiteStore {
    private static func workerLease(_ connection: SQLiteConnection, worker: String) throws -> WorkerLease? {
        try connection.query("SELECT worker, epoch, expires_at FROM worker_leases WHERE worker = ?", [.text(worker)]) { row in
            WorkerLease(tenure: WorkerTenure(worker: row.text(0), epoch: row.integer(1)), expiresAt: Date(storeMilliseconds: row.integer(2)))
        }.first
    }

    private static func storeWorkerLease(_ connection: SQLiteConnection, _ lease: WorkerLease, registeredAt: Int64?) throws {
        if let registeredAt {
            try connection.execute(
                """
                INSERT INTO worker_leases (worker, epoch, registered_at, expires_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (worker) DO UPDATE SET epoch = excluded.epoch, registered_at = excluded.registered_at, expires_at = excluded.expires_at
                """,
                [.text(lease.tenure.worker), .integer(lease.tenure.epoch), .integer(registeredAt), .integer(lease.expiresAt.storeMilliseconds)])
        } else {
            try connection.execute(
                "UPDATE worker_leases SET expires_at = ? WHERE worker = ? AND epoch = ?",
                [.integer(lease.expiresAt.storeMilliseconds), .text(lease.tenure.worker), .integer(lease.tenure.epoch)])
        }
    }

    private static func ownership(_ connection: SQLiteConnection, organization: String, session: String) throws -> SessionOwnership? {
        try connection.query(
            "SELECT worker, epoch, acquired_at FROM session_owners WHERE organization = ? AND session_id = ?", [.text(organization), .text(session)]
        ) { row in
            SessionOwnership(
                organization: organization, session: session, owner: WorkerTenure(worker: row.text(0), epoch: row.integer(1)),
                acquiredAt: Date(storeMilliseconds: row.integer(2)))
        }.first
    }

    /// The fence of an owner's write, in the write's transaction; nothing when `fence` is nil.
    static func checkFence(_ fence: WorkerTenure?, _ connection: SQLiteConnection, organization: String, session: String, now: Int64) throws {
        guard let fence else { return }
        let current = try ownership(connection, organization: organization, session: session)
        try OwnershipRules.checkFence(current, ownerLease: try workerLease(connection, worker: fence.worker), fence: fence, now: now)
    }

    public func registerWorker(_ worker: String, ttl: Duration) async throws(StoreError) -> WorkerLease {
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform(writing: true) { [clock] connection in
            let now = clock.now.storeMilliseconds
            let lease = OwnershipRules.register(
                try Self.workerLease(connection, worker: worker), worker: worker, now: now, ttlMilliseconds: ttlMilliseconds)
            try Self.storeWorkerLease(connection, lease, registeredAt: now)
            return lease
        }
    }

    public func renewWorker(_ tenure: WorkerTenure, ttl: Duration) async throws(StoreError) -> WorkerLease? {
        try StoreValidation.worker(tenure.worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform(writing: true) { [clock] connection in
            let current = try Self.workerLease(connection, worker: tenure.worker)
            guard let renewed = OwnershipRules.renew(current, tenure: tenure, now: clock.now.storeMilliseconds, ttlMilliseconds: ttlMilliseconds)
            else {
                return nil
            }
            try Self.storeWorkerLease(connection, renewed, registeredAt: nil)
            return renewed
        }
    }

    public func retireWorker(_ tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try StoreValidation.worker(tenure.worker)
        return try await perform(writing: true) { [clock] connection in
            let current = try Self.workerLease(connection, worker: tenure.worker)
            guard let retired = OwnershipRules.retire(current, tenure: tenure, now: clock.now.storeMilliseconds) else { return false }
            try Self.storeWorkerLease(connection, retired, registeredAt: nil)
            try connection.execute("DELETE FROM session_owners WHERE worker = ? AND epoch = ?", [.text(tenure.worker), .integer(tenure.epoch)])
            return true
        }
    }

    public func claimSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> SessionClaim {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(tenure.worker)
        return try await perform(writing: true) { [clock] connection in
            let exists =
                try connection.query("SELECT 1 FROM sessions WHERE organization = ? AND id = ?", [.text(organization), .text(session)]) { _ in
                    true
                }.first ?? false
            guard exists else { throw StoreError(.notFound, "session not found") }
            let current = try Self.ownership(connection, organization: organization, session: session)
            let decision = try OwnershipRules.claim(
                current, holderLease: try current.flatMap { try Self.workerLease(connection, worker: $0.owner.worker) },
                claimerLease: try Self.workerLease(connection, worker: tenure.worker), organization: organization, session: session,
                claimer: tenure, now: clock.now.storeMilliseconds)
            if case .granted(let granted) = decision, granted != current {
                try connection.execute(
                    """
                    INSERT INTO session_owners (organization, session_id, worker, epoch, acquired_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (organization, session_id) DO UPDATE SET
                        worker = excluded.worker, epoch = excluded.epoch, acquired_at = excluded.acquired_at
                    """,
                    [
                        .text(organization), .text(session), .text(granted.owner.worker), .integer(granted.owner.epoch),
                        .integer(granted.acquiredAt.storeMilliseconds),
                    ])
            }
            return decision
        }
    }

    public func releaseSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(tenure.worker)
        return try await perform(writing: true) { [clock] connection in
            do {
                try Self.checkFence(tenure, connection, organization: organization, session: session, now: clock.now.storeMilliseconds)
            } catch let error as StoreError where error.code == .leaseLost {
                return false
            }
            try connection.execute("DELETE FROM session_owners WHERE organization = ? AND session_id = ?", [.text(organization), .text(session)])
            return true
        }
    }

    public func sessionOwner(organization: String, session: String) async throws(StoreError) -> SessionOwnership? {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        return try await perform(writing: false) { [clock] connection in
            let current = try Self.ownership(connection, organization: organization, session: session)
            let ownerLease = try current.flatMap { try Self.workerLease(connection, worker: $0.owner.worker) }
            return OwnershipRules.valid(current, ownerLease: ownerLease, now: clock.now.storeMilliseconds)
        }
    }
}
