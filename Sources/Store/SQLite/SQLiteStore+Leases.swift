import Foundation

// The decisions are `LeaseRules`'; here the lease record is only read and written, inside the
// operation's write transaction (`BEGIN IMMEDIATE`), so no other worker changes it in between.
extension SQLiteStore {
    private static func lease(_ row: SQLiteRow) -> Lease {
        Lease(
            organization: row.text(0),
            session: row.text(1),
            owner: row.text(2),
            acquiredAt: Date(storeMilliseconds: row.integer(3)),
            expiresAt: Date(storeMilliseconds: row.integer(4)),
            generation: row.integer(5)
        )
    }

    private static let leaseQuery =
        "SELECT organization, session_id, owner, acquired_at, expires_at, generation FROM session_leases WHERE organization = ? AND session_id = ?"

    private static func fetchLease(_ connection: SQLiteConnection, organization: String, session: String) throws -> Lease? {
        try connection.query(leaseQuery, [.text(organization), .text(session)], lease).first
    }

    private static func storeLease(_ connection: SQLiteConnection, _ lease: Lease) throws {
        try connection.execute(
            """
            INSERT INTO session_leases (organization, session_id, owner, acquired_at, expires_at, generation) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (organization, session_id) DO UPDATE SET
                owner = excluded.owner, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, generation = excluded.generation
            """,
            [
                .text(lease.organization), .text(lease.session), .text(lease.owner), .integer(lease.acquiredAt.storeMilliseconds),
                .integer(lease.expiresAt.storeMilliseconds), .integer(lease.generation),
            ]
        )
    }

    public func acquireLease(organization: String, session: String, worker: String, ttl: Duration) async throws(StoreError) -> LeaseAcquisition {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform(writing: true) { [clock] connection in
            let key: [SQLiteValue] = [.text(organization), .text(session)]
            let exists = try connection.query("SELECT 1 FROM sessions WHERE organization = ? AND id = ?", key) { _ in true }.first ?? false
            guard exists else { throw StoreError(.notFound, "session not found") }
            // The time is read inside the write transaction: no other worker can change the lease
            // between this reading and the write below.
            let current = try Self.fetchLease(connection, organization: organization, session: session)
            let decision = LeaseRules.acquire(
                current, organization: organization, session: session, worker: worker, now: clock.now.storeMilliseconds,
                ttlMilliseconds: ttlMilliseconds)
            if case .granted(let lease) = decision { try Self.storeLease(connection, lease) }
            return decision
        }
    }

    public func renewLease(organization: String, session: String, worker: String, ttl: Duration) async throws(StoreError) -> Lease? {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform(writing: true) { [clock] connection in
            let current = try Self.fetchLease(connection, organization: organization, session: session)
            guard let renewed = LeaseRules.renew(current, worker: worker, now: clock.now.storeMilliseconds, ttlMilliseconds: ttlMilliseconds) else {
                return nil
            }
            try Self.storeLease(connection, renewed)
            return renewed
        }
    }

    public func releaseLease(organization: String, session: String, worker: String) async throws(StoreError) -> Bool {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(worker)
        return try await perform(writing: true) { [clock] connection in
            let current = try Self.fetchLease(connection, organization: organization, session: session)
            guard let released = LeaseRules.release(current, worker: worker, now: clock.now.storeMilliseconds) else { return false }
            try Self.storeLease(connection, released)
            return true
        }
    }

    public func leaseOwner(organization: String, session: String) async throws(StoreError) -> Lease? {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        return try await perform(writing: false) { [clock] connection in
            let current = try Self.fetchLease(connection, organization: organization, session: session)
            return LeaseRules.valid(current, now: clock.now.storeMilliseconds)
        }
    }
}
