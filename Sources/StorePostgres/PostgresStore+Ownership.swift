import Foundation
import PostgresNIO
import Store

// The decisions are `OwnershipRules`', as in SQLite: the records are read with their rows locked,
// then the database's time is read, then the decision is written, all in one transaction.
extension PostgresStore {
    private func workerLease(_ connection: PostgresConnection, worker: String, lock: LockStrength) async throws -> WorkerLease? {
        let query: PostgresQuery =
            switch lock {
            case .update: "SELECT worker, epoch, expires_at FROM worker_leases WHERE worker = \(worker) FOR UPDATE"
            case .share: "SELECT worker, epoch, expires_at FROM worker_leases WHERE worker = \(worker) FOR SHARE"
            }
        return try await connection.run(query, logger: logger).first.map { row in
            let (worker, epoch, expires) = try row.decode((String, Int64, Int64).self)
            return WorkerLease(tenure: WorkerTenure(worker: worker, epoch: epoch), expiresAt: Date(storeMilliseconds: expires))
        }
    }

    private enum LockStrength {
        case update, share
    }

    private func ownership(_ connection: PostgresConnection, organization: String, session: String) async throws -> SessionOwnership? {
        try await connection.run(
            "SELECT worker, epoch, acquired_at FROM session_owners WHERE organization = \(organization) AND session_id = \(session)", logger: logger
        ).first.map { row in
            let (worker, epoch, acquired) = try row.decode((String, Int64, Int64).self)
            return SessionOwnership(
                organization: organization, session: session, owner: WorkerTenure(worker: worker, epoch: epoch),
                acquiredAt: Date(storeMilliseconds: acquired))
        }
    }

    /// The fence of an owner's write, in the write's transaction (the session row is already
    /// locked by the caller; the worker lease is locked for share, so no renewal or new
    /// registration can change it before this transaction ends).
    func checkFence(_ fence: WorkerTenure?, _ connection: PostgresConnection, organization: String, session: String) async throws {
        guard let fence else { return }
        let current = try await ownership(connection, organization: organization, session: session)
        let lease = try await workerLease(connection, worker: fence.worker, lock: .share)
        try OwnershipRules.checkFence(current, ownerLease: lease, fence: fence, now: try await now(connection))
    }

    public func registerWorker(_ worker: String, ttl: Duration) async throws(StoreError) -> WorkerLease {
        try StoreValidation.worker(worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform { connection in
            // Two processes registering one id at once: the first insert wins, the other's insert
            // does nothing and its locked read then sees (and outnumbers) the winner's epoch.
            try await connection.run(
                "INSERT INTO worker_leases (worker, epoch, registered_at, expires_at) VALUES (\(worker), 0, 0, 0) ON CONFLICT (worker) DO NOTHING",
                logger: self.logger)
            let current = try await self.workerLease(connection, worker: worker, lock: .update)
            let now = try await self.now(connection)
            let lease = OwnershipRules.register(current, worker: worker, now: now, ttlMilliseconds: ttlMilliseconds)
            try await connection.run(
                """
                UPDATE worker_leases SET epoch = \(lease.tenure.epoch), registered_at = \(now), expires_at = \(lease.expiresAt.storeMilliseconds)
                WHERE worker = \(worker)
                """, logger: self.logger)
            return lease
        }
    }

    public func renewWorker(_ tenure: WorkerTenure, ttl: Duration) async throws(StoreError) -> WorkerLease? {
        try StoreValidation.worker(tenure.worker)
        let ttlMilliseconds = try StoreValidation.ttl(ttl)
        return try await perform { connection in
            let current = try await self.workerLease(connection, worker: tenure.worker, lock: .update)
            guard let renewed = OwnershipRules.renew(current, tenure: tenure, now: try await self.now(connection), ttlMilliseconds: ttlMilliseconds)
            else { return nil }
            try await connection.run(
                "UPDATE worker_leases SET expires_at = \(renewed.expiresAt.storeMilliseconds) WHERE worker = \(tenure.worker)", logger: self.logger)
            return renewed
        }
    }

    public func retireWorker(_ tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try StoreValidation.worker(tenure.worker)
        return try await perform { connection in
            let current = try await self.workerLease(connection, worker: tenure.worker, lock: .update)
            guard let retired = OwnershipRules.retire(current, tenure: tenure, now: try await self.now(connection)) else { return false }
            try await connection.run(
                "UPDATE worker_leases SET expires_at = \(retired.expiresAt.storeMilliseconds) WHERE worker = \(tenure.worker)", logger: self.logger)
            try await connection.run(
                "DELETE FROM session_owners WHERE worker = \(tenure.worker) AND epoch = \(tenure.epoch)", logger: self.logger)
            return true
        }
    }

    public func claimSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> SessionClaim {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(tenure.worker)
        return try await perform { connection in
            _ = try await self.lockSession(connection, organization: organization, id: session)
            let current = try await self.ownership(connection, organization: organization, session: session)
            let claimerLease = try await self.workerLease(connection, worker: tenure.worker, lock: .share)
            let holderLease: WorkerLease? =
                if let current { try await self.workerLease(connection, worker: current.owner.worker, lock: .share) } else { nil }
            let decision = try OwnershipRules.claim(
                current, holderLease: holderLease, claimerLease: claimerLease, organization: organization, session: session, claimer: tenure,
                now: try await self.now(connection))
            if case .granted(let granted) = decision, granted != current {
                try await connection.run(
                    """
                    INSERT INTO session_owners (organization, session_id, worker, epoch, acquired_at)
                    VALUES (\(organization), \(session), \(granted.owner.worker), \(granted.owner.epoch), \(granted.acquiredAt.storeMilliseconds))
                    ON CONFLICT (organization, session_id) DO UPDATE SET
                        worker = excluded.worker, epoch = excluded.epoch, acquired_at = excluded.acquired_at
                    """, logger: self.logger)
            }
            return decision
        }
    }

    public func releaseSession(organization: String, session: String, by tenure: WorkerTenure) async throws(StoreError) -> Bool {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        try StoreValidation.worker(tenure.worker)
        return try await perform { connection in
            guard try await self.fetchSession(connection, organization: organization, id: session, locking: true) != nil else { return false }
            do {
                try await self.checkFence(tenure, connection, organization: organization, session: session)
            } catch let error as StoreError where error.code == .leaseLost {
                return false
            }
            try await connection.run(
                "DELETE FROM session_owners WHERE organization = \(organization) AND session_id = \(session)", logger: self.logger)
            return true
        }
    }

    public func sessionOwner(organization: String, session: String) async throws(StoreError) -> SessionOwnership? {
        try StoreValidation.organization(organization)
        try StoreValidation.sessionID(session)
        return try await perform { connection in
            let current = try await self.ownership(connection, organization: organization, session: session)
            let lease: WorkerLease? =
                if let current { try await self.workerLease(connection, worker: current.owner.worker, lock: .share) } else { nil }
            return OwnershipRules.valid(current, ownerLease: lease, now: try await self.now(connection))
        }
    }
}
