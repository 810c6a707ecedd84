import Foundation

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

    public func acquireLease(organization: String, session: String, worker: String, ttl: Duration) async throws(StoreError) -> LeaseAcquisition {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform(writing: true) { [clock] connection in
            let key: [SQLiteValue] = [.text(organization), .text(session)]
            let exists = try connection.query("SELECT 1 FROM sessions WHERE organization = ? AND id = ?", key) { _ in true }.first ?? false
            guard exists else { throw StoreError(.notFound, "session not found") }
            // Read the time inside the write transaction: no other worker can change the lease
            // between this reading and the write below.
            let now = clock.now.storeMilliseconds
            let expires = now + ttlMilliseconds
            let current = try connection.query(Self.leaseQuery, key, Self.lease).first
            let granted: Lease
            switch current {
            case nil:
                granted = Lease(
                    organization: organization, session: session, owner: worker,
                    acquiredAt: Date(storeMilliseconds: now), expiresAt: Date(storeMilliseconds: expires), generation: 1)
                try connection.execute(
                    "INSERT INTO session_leases (organization, session_id, owner, acquired_at, expires_at, generation) VALUES (?, ?, ?, ?, ?, 1)",
                    key + [.text(worker), .integer(now), .integer(expires)]
                )
            case let lease? where lease.owner == worker && lease.expiresAt.storeMilliseconds > now:
                // Re-acquiring one's own valid lease extends it; nobody else held it in between.
                granted = Lease(
                    organization: organization, session: session, owner: worker,
                    acquiredAt: lease.acquiredAt, expiresAt: Date(storeMilliseconds: expires), generation: lease.generation)
                try connection.execute(
                    "UPDATE session_leases SET expires_at = ? WHERE organization = ? AND session_id = ?",
                    [.integer(expires)] + key
                )
            case let lease? where lease.expiresAt.storeMilliseconds <= now:
                // Expired or released: a new tenure, whoever takes it.
                granted = Lease(
                    organization: organization, session: session, owner: worker,
                    acquiredAt: Date(storeMilliseconds: now), expiresAt: Date(storeMilliseconds: expires), generation: lease.generation + 1)
                try connection.execute(
                    "UPDATE session_leases SET owner = ?, acquired_at = ?, expires_at = ?, generation = ? WHERE organization = ? AND session_id = ?",
                    [.text(worker), .integer(now), .integer(expires), .integer(granted.generation)] + key
                )
            case let lease?:
                return .heldByAnother(lease)
            }
            return .granted(granted)
        }
    }

    public func renewLease(organization: String, session: String, worker: String, ttl: Duration) async throws(StoreError) -> Lease? {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform(writing: true) { [clock] connection in
            let key: [SQLiteValue] = [.text(organization), .text(session)]
            let expires = clock.now.storeMilliseconds + ttlMilliseconds
            let changed = try connection.execute(
                "UPDATE session_leases SET expires_at = ? WHERE organization = ? AND session_id = ? AND owner = ?",
                [.integer(expires)] + key + [.text(worker)]
            )
            guard changed > 0 else { return nil }
            return try connection.query(Self.leaseQuery, key, Self.lease).first
        }
    }

    public func releaseLease(organization: String, session: String, worker: String) async throws(StoreError) -> Bool {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(worker)
        return try await perform(writing: true) { [clock] connection in
            // The row stays, owned by nobody and expired, so the next tenure's generation is
            // still one more than this one's (a released holder's stale token never matches again).
            try connection.execute(
                "UPDATE session_leases SET owner = '', expires_at = MIN(expires_at, ?) WHERE organization = ? AND session_id = ? AND owner = ?",
                [.integer(clock.now.storeMilliseconds), .text(organization), .text(session), .text(worker)]
            ) > 0
        }
    }

    public func leaseOwner(organization: String, session: String) async throws(StoreError) -> Lease? {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        return try await perform(writing: false) { [clock] connection in
            let now = clock.now.storeMilliseconds
            return try connection.query(
                Self.leaseQuery + " AND expires_at > ? AND owner <> ''", [.text(organization), .text(session), .integer(now)], Self.lease
            ).first
        }
    }
}
